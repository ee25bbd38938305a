"""The report's statistics: many-to-one tests with the training run as unit, bootstrap intervals, seed spread, diameter agreement."""

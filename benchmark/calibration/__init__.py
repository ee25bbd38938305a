"""Calibration: does a set-up detect an effect it must detect? Supervised against the positive
control across shared budgets, each setting a run of its own, summarised in one table."""

"""Evaluation: per-image metrics (and their compiled kernels), the straightforward reference
implementation they are checked against, and one result row per test image."""

"""How much of the spread between seeds every method of a seed shares: with labelled images drawn per
seed, that is mostly which images got labelled (plus the random numbers a cell's methods share).

A two-way decomposition of the methods × seeds table of per-seed mean scores at one ratio (methods
with every seed): the seeds' mean square beyond the residual's is the shared part,
σ²_shared = (MS_seeds − MS_residual) / methods (clipped at 0), and the residual, σ²_own, is what each
training adds on its own. The many-to-one test takes the shared part out (seeds are blocks), so it is
the spread a user with another draw of labelled images would see, not noise in the comparison.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class SeedSpread:
    ratio: str
    shared_var: float
    own_var: float
    n_methods: int
    n_seeds: int

    @property
    def shared_share(self) -> float:
        total = self.shared_var + self.own_var
        return self.shared_var / total if total > 0 else float("nan")

    def line(self, per_seed: bool, metric: str = "Dice") -> str:
        source = ("which images were labelled (drawn per seed) and the random numbers a seed's methods share"
                  if per_seed else "the random numbers a seed's methods share (one labelled draw for every seed)")
        return (f"Spread between seeds at {self.ratio}: {self.shared_share:.0%} of a method's seed-to-seed variance in "
                f"{metric} is shared by every method of the seed — {source}; the rest is each training's own "
                f"(SD {np.sqrt(self.shared_var):.3f} shared, {np.sqrt(self.own_var):.3f} own; {self.n_methods} methods "
                f"× {self.n_seeds} seeds). The tests against the baseline take the shared part out.")


def seed_spread(rows: pd.DataFrame, ratio: str, metric: str = "dice") -> SeedSpread | None:
    """The decomposition at `ratio`, over the methods that have every seed; None with fewer than 2
    methods or 2 seeds."""
    table = rows[rows["ratio"] == ratio].groupby(["method", "seed"])[metric].mean().unstack("seed").dropna()
    methods, seeds = table.shape
    if methods < 2 or seeds < 2:
        return None
    values = table.to_numpy(dtype=float)
    residual = values - values.mean(axis=1, keepdims=True) - values.mean(axis=0, keepdims=True) + values.mean()
    ms_residual = float((residual ** 2).sum()) / ((methods - 1) * (seeds - 1))
    ms_seeds = methods * float(values.mean(axis=0).var(ddof=1))
    return SeedSpread(ratio, max(0.0, ms_seeds - ms_residual) / methods, ms_residual, methods, seeds)

"""The numbers of the report, from the long rows (one per job × test image).

Conventions, stated once:
- a method's value on one test image is the mean over the seeds that have that image (so seeds
  weigh equally and an image is one unit of a paired test);
- "mean ± SD" is over test images of those per-image values (sample SD, ddof = 1), as the study
  reports per-image spread;
- a cell's 95 % confidence interval is a t-interval over the seeds' mean values when the cell has
  two seeds or more, else a percentile bootstrap over its test images (fixed generator seed, so
  the same rows always give the same interval).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats as sps

from reports.labels import order_ratios

BOOTSTRAP_SAMPLES = 2000
BOOTSTRAP_SEED = 0
CONFIDENCE = 0.95


def per_image(rows: pd.DataFrame, metric: str) -> pd.DataFrame:
    """method, ratio, image_id, value: each image's metric averaged over seeds."""
    grouped = rows.groupby(["method", "ratio", "image_id"], sort=True)[metric].mean()
    return grouped.rename("value").reset_index()


def seed_means(rows: pd.DataFrame, metric: str) -> pd.DataFrame:
    """method, ratio, seed, value: the mean over test images of each seed's job."""
    grouped = rows.groupby(["method", "ratio", "seed"], sort=True)[metric].mean()
    return grouped.rename("value").reset_index()


def t_interval(values: np.ndarray, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Student-t interval of the mean of `values` (n ≥ 2)."""
    values = np.asarray(values, dtype=float)
    half = sps.t.ppf(0.5 + confidence / 2, len(values) - 1) * values.std(ddof=1) / np.sqrt(len(values))
    return float(values.mean() - half), float(values.mean() + half)


def bootstrap_interval(values: np.ndarray, confidence: float = CONFIDENCE,
                       samples: int = BOOTSTRAP_SAMPLES, seed: int = BOOTSTRAP_SEED) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of `values`, resampled with a fixed seed."""
    values = np.asarray(values, dtype=float)
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, len(values), size=(samples, len(values)))].mean(axis=1)
    tail = (1 - confidence) / 2
    low, high = np.quantile(means, [tail, 1 - tail])
    return float(low), float(high)


def cell_summary(rows: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Per method × ratio: mean, 95 % CI (ci_low, ci_high, ci_kind), n_seeds, n_images, ft_ratio."""
    seeds = seed_means(rows, metric)
    images = per_image(rows, metric)
    records = []
    for (method, ratio), cell in seeds.groupby(["method", "ratio"], sort=True):
        if len(cell) >= 2:
            low, high = t_interval(cell["value"].to_numpy())
            kind = f"t-interval over {len(cell)} seeds"
        else:
            values = images.loc[(images["method"] == method) & (images["ratio"] == ratio), "value"].to_numpy()
            low, high = bootstrap_interval(values)
            kind = f"bootstrap over {len(values)} test images"
        n_images = rows.loc[(rows["method"] == method) & (rows["ratio"] == ratio), "image_id"].nunique()
        records.append({"method": method, "ratio": ratio, "mean": float(cell["value"].mean()),
                        "ci_low": low, "ci_high": high, "ci_kind": kind, "n_seeds": len(cell),
                        "n_images": int(n_images)})
    return pd.DataFrame(records, columns=["method", "ratio", "mean", "ci_low", "ci_high", "ci_kind",
                                          "n_seeds", "n_images"])


def mean_sd(rows: pd.DataFrame, metric: str, ratio: str) -> pd.DataFrame:
    """Per method at one ratio: mean and SD over test images of the seed-averaged values."""
    images = per_image(rows[rows["ratio"] == ratio], metric)
    grouped = images.groupby("method")["value"]
    return pd.DataFrame({"mean": grouped.mean(), "sd": grouped.std(ddof=1)})


def cell_means(rows: pd.DataFrame, metric: str) -> pd.DataFrame:
    """method × ratio table of means over seeds' means, ratios from the smallest FT share."""
    table = seed_means(rows, metric).groupby(["method", "ratio"])["value"].mean().unstack("ratio")
    return table[order_ratios(table.columns)]


def relative_change(means: pd.DataFrame) -> pd.Series:
    """Per method, 100 × (value at the smallest FT share − value at the largest) / value at the largest.

    NaN for a method that lacks either ratio. `means` is a method × ratio table (see cell_means).
    """
    ratios = order_ratios(means.columns)
    if len(ratios) < 2:
        return pd.Series(np.nan, index=means.index, name="relative_change_pct")
    smallest, largest = means[ratios[0]], means[ratios[-1]]
    return (100.0 * (smallest - largest) / largest).rename("relative_change_pct")


def gains(means: pd.DataFrame, baseline: str) -> pd.DataFrame:
    """method × ratio: each method's mean minus the baseline's at the same ratio (NaN without one)."""
    if baseline not in means.index:
        return means * np.nan
    return means - means.loc[baseline]


def best_method(means: pd.Series, higher_is_better: bool) -> str:
    """The method with the best mean (first in order on a tie)."""
    return str(means.idxmax() if higher_is_better else means.idxmin())

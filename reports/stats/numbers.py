"""The numbers of the report, from the long rows (one per job × test image).

Conventions, stated once:
- a method's value on one test image is the mean over the seeds that have that image (so seeds
  weigh equally); "mean ± SD" is over test images of those per-image values (sample SD, ddof = 1),
  as the study reports per-image spread;
- a cell's 95 % confidence interval comes from the two-level bootstrap over seeds and the test
  images within them (`reports.stats.hierarchical`): its unit is the training run. With one seed it can
  only be an interval over the test images of that one trained model, and says so.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from reports.stats.hierarchical import SignificanceSettings, run_level
from reports.labels import Metric, order_ratios


def per_image(rows: pd.DataFrame, metric: str) -> pd.DataFrame:
    """method, ratio, image_id, value: each image's metric averaged over seeds."""
    grouped = rows.groupby(["method", "ratio", "image_id"], sort=True)[metric].mean()
    return grouped.rename("value").reset_index()


def seed_means(rows: pd.DataFrame, metric: str) -> pd.DataFrame:
    """method, ratio, seed, value: the mean over test images of each seed's job."""
    grouped = rows.groupby(["method", "ratio", "seed"], sort=True)[metric].mean()
    return grouped.rename("value").reset_index()


def interval_kind(n_seeds: int, n_images: int) -> str:
    if n_seeds == 1:
        return f"over the {n_images} test images of 1 trained model only (1 seed)"
    return f"two-level bootstrap over {n_seeds} seeds × {n_images} test images"


def cell_summary(rows: pd.DataFrame, metric: Metric, settings: SignificanceSettings = SignificanceSettings()) -> pd.DataFrame:
    """Per method × ratio: mean, 95 % CI (ci_low, ci_high, held to the metric's range; ci_kind),
    n_seeds, n_images."""
    records = []
    for (method, ratio), cell in rows.groupby(["method", "ratio"], sort=True):
        matrix = cell.pivot_table(index="seed", columns="image_id", values=metric.key, aggfunc="mean").dropna(axis=1)
        estimate = run_level(matrix.to_numpy(dtype=float), settings)
        records.append({"method": method, "ratio": ratio, "mean": float(estimate.mean),
                        "ci_low": float(metric.clip(estimate.ci_low)), "ci_high": float(metric.clip(estimate.ci_high)),
                        "ci_kind": interval_kind(estimate.n_seeds, estimate.n_images),
                        "n_seeds": estimate.n_seeds, "n_images": estimate.n_images})
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

    NaN for a method that lacks either ratio, and where the value at the largest share is 0 (a change
    relative to nothing is no number: ±inf % would only look like one). `means` is a method × ratio
    table (see cell_means).
    """
    ratios = order_ratios(means.columns)
    if len(ratios) < 2:
        return pd.Series(np.nan, index=means.index, name="relative_change_pct")
    smallest, largest = means[ratios[0]], means[ratios[-1]].where(means[ratios[-1]] != 0)
    return (100.0 * (smallest - largest) / largest).rename("relative_change_pct")


def best_method(means: pd.Series, higher_is_better: bool) -> str:
    """The method with the best mean (first in order on a tie)."""
    return str(means.idxmax() if higher_is_better else means.idxmin())

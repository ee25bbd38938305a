"""Paired tests between methods: Wilcoxon signed-rank over the same test images, Holm-corrected.

At each ratio two families are tested, each corrected on its own with Holm's step-down method:
every method against the supervised baseline, and every method against the best method at that
ratio. The same is done over seeds (pairs = the seeds' mean values) where cells have several seeds.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats as sps

from reports.labels import Metric, order_methods, order_ratios
from reports.stats import best_method, per_image, seed_means

ALPHA = 0.05
VS_BASELINE_MARK = "†"
VS_BEST_MARK = "‡"
TEST_NAME = "two-sided Wilcoxon signed-rank test, Holm-corrected"


def holm(pvalues: Sequence[float]) -> np.ndarray:
    """Holm–Bonferroni adjusted p-values, in the input order; NaN entries are left out of the family.

    The k-th smallest of m p-values is multiplied by (m − k + 1), then made non-decreasing along
    the sorted order and capped at 1.
    """
    p = np.asarray(pvalues, dtype=float)
    adjusted = np.full(p.shape, np.nan)
    valid = np.flatnonzero(~np.isnan(p))
    running = 0.0
    for rank, index in enumerate(valid[np.argsort(p[valid], kind="stable")]):
        running = max(running, min(1.0, (len(valid) - rank) * p[index]))
        adjusted[index] = running
    return adjusted


def paired_wilcoxon(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sided Wilcoxon signed-rank p-value of paired samples; identical samples give p = 1."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if len(a) == 0:
        return float("nan")
    if np.all(a == b):
        return 1.0
    return float(sps.wilcoxon(a, b).pvalue)


def _paired(table: pd.DataFrame, a: str, b: str, min_pairs: int) -> float:
    """p-value of columns a vs b over the rows where both have a value."""
    if a == b or a not in table or b not in table:
        return float("nan")
    pairs = table[[a, b]].dropna()
    return paired_wilcoxon(pairs[a].to_numpy(), pairs[b].to_numpy()) if len(pairs) >= min_pairs else float("nan")


def compare_methods(rows: pd.DataFrame, metric: Metric, baseline: str) -> pd.DataFrame:
    """One row per ratio × method: mean, whether best, and raw and Holm p-values of both families,
    over images (p_baseline, p_best, …_holm) and over seeds (p_seeds_baseline, p_seeds_best, …)."""
    images, seeds = per_image(rows, metric.key), seed_means(rows, metric.key)
    blocks = []
    for ratio in order_ratios(rows["ratio"]):
        by_image = images[images["ratio"] == ratio].pivot(index="image_id", columns="method", values="value")
        by_seed = seeds[seeds["ratio"] == ratio].pivot(index="seed", columns="method", values="value")
        means = by_seed.mean()
        best = best_method(means, metric.higher_is_better)
        methods = order_methods(by_seed.columns)
        block = pd.DataFrame({
            "ratio": ratio, "method": methods, "mean": [means[m] for m in methods],
            "is_best": [m == best for m in methods], "best": best,
            "n_images": [int(by_image[m].notna().sum()) for m in methods],
            "n_seeds": [int(by_seed[m].notna().sum()) for m in methods],
            "p_baseline": [_paired(by_image, m, baseline, 1) for m in methods],
            "p_best": [_paired(by_image, m, best, 1) for m in methods],
            "p_seeds_baseline": [_paired(by_seed, m, baseline, 2) for m in methods],
            "p_seeds_best": [_paired(by_seed, m, best, 2) for m in methods],
        })
        for column in ("p_baseline", "p_best", "p_seeds_baseline", "p_seeds_best"):
            block[f"{column}_holm"] = holm(block[column].to_numpy())
        blocks.append(block)
    return pd.concat(blocks, ignore_index=True) if blocks else pd.DataFrame()


def markers(comparison: pd.Series, alpha: float = ALPHA) -> str:
    """† where the image-level test against the baseline, ‡ where the one against the best method,
    is significant after Holm correction."""
    mark = VS_BASELINE_MARK if comparison["p_baseline_holm"] < alpha else ""
    return mark + (VS_BEST_MARK if comparison["p_best_holm"] < alpha else "")


def marker_note(baseline_label: str, alpha: float = ALPHA) -> str:
    return (f"{VS_BASELINE_MARK} differs from {baseline_label}, {VS_BEST_MARK} differs from the best method "
            f"at that ratio: {TEST_NAME} over paired test images (per-image values averaged over seeds), "
            f"p < {alpha:g}.")

"""Agreement of predicted and ground-truth artery diameters: Pearson correlation and Bland–Altman."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats as sps

LIMIT_Z = 1.96  # ±1.96 SD covers 95 % of differences if they are normal (Bland & Altman 1986)


@dataclass(frozen=True)
class Correlation:
    r: float
    p: float
    n: int
    slope: float  # least-squares line of pred on gt, for the figure
    intercept: float


@dataclass(frozen=True)
class BlandAltman:
    """Differences pred − gt: their mean (bias), SD (ddof = 1) and 95 % limits of agreement."""

    mean_difference: float
    sd: float
    lower: float
    upper: float
    n: int


def pearson(gt: np.ndarray, pred: np.ndarray) -> Correlation:
    """Pearson r and its two-sided p; NaN r and p when either side is constant or n < 3."""
    gt, pred = np.asarray(gt, dtype=float), np.asarray(pred, dtype=float)
    n = len(gt)
    if n < 3 or np.ptp(gt) == 0 or np.ptp(pred) == 0:
        return Correlation(float("nan"), float("nan"), n, float("nan"), float("nan"))
    result = sps.pearsonr(gt, pred)
    slope, intercept = np.polyfit(gt, pred, 1)
    return Correlation(float(result.statistic), float(result.pvalue), n, float(slope), float(intercept))


def bland_altman(gt: np.ndarray, pred: np.ndarray) -> BlandAltman:
    difference = np.asarray(pred, dtype=float) - np.asarray(gt, dtype=float)
    mean = float(difference.mean())
    sd = float(difference.std(ddof=1)) if len(difference) > 1 else float("nan")
    return BlandAltman(mean, sd, mean - LIMIT_Z * sd, mean + LIMIT_Z * sd, len(difference))


def diameters(rows: pd.DataFrame, method: str, ratio: str) -> pd.DataFrame:
    """image_id, diameter_gt, diameter_pred of one method at one ratio, averaged over seeds."""
    cell = rows[(rows["method"] == method) & (rows["ratio"] == ratio)]
    return cell.groupby("image_id", sort=True)[["diameter_gt", "diameter_pred"]].mean().reset_index()

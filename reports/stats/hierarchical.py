"""Uncertainty whose unit is the training run: a two-level (hierarchical) bootstrap over seeds, then
test images within each seed (Saravanan, Berman & Sober 2020, "Application of the hierarchical
bootstrap to multi-level data in neuroscience", Neurons, Behavior, Data Analysis and Theory 3(5)).

Why not the test images alone: two trainings of one method differ by more than most gaps between
methods, so 300 images from 3 trained models are 3 replicates of "does this method help", not 300.

How, and why this way:
- The statistic is the grand mean of a seeds × images matrix (a method's values, or its paired
  differences to the baseline on the same seeds and images). Resampling S seeds with replacement and
  then, within each drawn seed, its I images with replacement gives replicate means whose variance
  has a closed form (the limit of infinitely many resamples, so no Monte Carlo error and no time):
      Var = [ (1/S)·Σ_s (m_s − m̄)² + (1/S)·Σ_s v_s / I ] / S,
  m_s the seed's mean over images, v_s its within-seed variance (ddof 0). tests/test_report_stats.py
  checks it against explicit resampling.
- With few seeds the bootstrap under-states the spread between seeds by (S − 1)/S and its
  percentile interval is far too narrow (3 seeds: 1 resample in 9 repeats one seed three times), so
  the seed term is corrected by S/(S − 1) and the reference is Student's t on S − 1 degrees of
  freedom. The image term is then counted twice (once inside m_s, once resampled): the test errs
  on the conservative side, which the simulation tests bound.
- Minimum detectable difference (MDD): the true difference this run would detect with probability
  `power` at level `alpha`, from the same standard error: δ · SE, with δ the noncentrality at which a
  two-sided t-test on S − 1 degrees of freedom rejects with that probability. (The shortcut
  (t_{1−α/2} + t_{power}) · SE over-states the power with few seeds: 70 % instead of 80 % at 3 seeds
  and α/6.)

Differences to the baseline are tested by `reports.stats.manytoone` (seeds as blocks, test images crossed);
this module gives a method's own mean its interval.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats as sps

from reports.stats.manytoone import detectable_multiple, rejection_power

REFERENCE = ("two-level bootstrap over seeds, then test images within seeds (Saravanan et al. 2020), "
             "standard error exact, seed term ×S/(S−1), Student-t on S−1 degrees of freedom")


@dataclass(frozen=True)
class SignificanceSettings:
    """Level, power and the fewest seeds a run-level verdict needs (below it: only the MDD is said)."""

    alpha: float = 0.05
    power: float = 0.80
    min_seeds: int = 3

    @property
    def confidence(self) -> float:
        return 1.0 - self.alpha


def t_test_power(noncentrality: float, df: int, alpha: float) -> float:
    """The power of a two-sided t-test on `df` degrees of freedom at level `alpha`, at a true effect of
    δ standard errors (reports.stats.manytoone.rejection_power at Student's critical value)."""
    return rejection_power(noncentrality, df, float(sps.t.ppf(1 - alpha / 2, df)))


def detectable_effect(df: int, alpha: float, power: float) -> float:
    """The noncentrality δ at which the two-sided t-test on `df` degrees of freedom at level `alpha`
    rejects with probability `power`: the MDD in standard errors."""
    return detectable_multiple(float(sps.t.ppf(1 - alpha / 2, df)), df, power)


def detectable_difference(se: np.ndarray | float, n_seeds: int, alpha: float, power: float) -> np.ndarray:
    """The MDD of a run-level test on S seeds at level `alpha`: δ(S − 1, α, power) · SE; NaN with one
    seed (no run-to-run spread to test against)."""
    se = np.asarray(se, dtype=float)
    if n_seeds < 2:
        return np.full(se.shape, np.nan)
    return detectable_effect(n_seeds - 1, alpha, power) * se


@dataclass(frozen=True)
class RunLevel:
    """Estimates over the leading axes of a (..., seeds, images) array; scalars for one matrix."""

    mean: np.ndarray
    se: np.ndarray  # with one seed: over the images of that one trained model only
    ci_low: np.ndarray
    ci_high: np.ndarray
    p: np.ndarray  # two-sided, against a true mean of 0; NaN with one seed
    mdd: np.ndarray  # NaN with one seed
    n_seeds: int
    n_images: int
    testable: bool  # n_seeds ≥ settings.min_seeds: a verdict may be given

    def significant(self, alpha: float) -> np.ndarray:
        """Whether p < alpha, False wherever the run has too few seeds for a verdict."""
        return np.asarray(self.testable & (np.nan_to_num(self.p, nan=1.0) < alpha))


def _terms(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each seed's mean over images, and the mean over seeds of v_s / I (the image term)."""
    return values.mean(axis=-1), values.var(axis=-1).mean(axis=-1) / values.shape[-1]


def run_level(values: np.ndarray, settings: SignificanceSettings = SignificanceSettings()) -> RunLevel:
    """Mean, standard error, CI, p against 0 and MDD of a (..., seeds, images) matrix of values or of
    paired differences; with one seed the CI is a normal one over test images (no run-level test)."""
    values = np.asarray(values, dtype=float)
    if values.ndim < 2 or 0 in values.shape[-2:]:
        raise ValueError(f"need a (..., seeds, images) array with at least one of each, got shape {values.shape}")
    n_seeds, n_images = values.shape[-2:]
    mean = values.mean(axis=(-2, -1))
    seed_means, within = _terms(values)
    if n_seeds == 1:
        se = np.sqrt(within)
        half = sps.norm.ppf(0.5 + settings.confidence / 2) * se
        nan = np.full(mean.shape, np.nan)
        return RunLevel(mean, se, mean - half, mean + half, nan, nan, 1, n_images, False)
    se = np.sqrt((seed_means.var(axis=-1, ddof=1) + within) / n_seeds)
    df = n_seeds - 1
    critical = sps.t.ppf(1 - settings.alpha / 2, df)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(se > 0, mean / se, np.where(mean == 0, 0.0, np.inf))
    p = 2 * sps.t.sf(np.abs(t), df)
    mdd = detectable_difference(se, n_seeds, settings.alpha, settings.power)
    return RunLevel(mean, se, mean - critical * se, mean + critical * se, p, mdd, n_seeds, n_images,
                    n_seeds >= settings.min_seeds)


def detectable_text(n_seeds: int, mdd: float, decimals: int = 3) -> str:
    """'3 seeds: a difference below 0.112 cannot be detected' (what a run without a verdict can say)."""
    if n_seeds < 2:
        return f"{n_seeds} seed: run-to-run spread unknown, no difference can be called significant"
    if math.isnan(mdd):
        return f"{n_seeds} seeds: no method paired with the baseline, so nothing to detect"
    return f"{n_seeds} seeds: a difference below {mdd:.{decimals}f} cannot be detected"

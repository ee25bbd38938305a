"""Contenders against the baseline in one analysis of the whole design: seeds as blocks, test images
crossed with seeds, many-to-one critical values. docs/statistics.md argues each choice; in short:

- **The unit is the training run, and the design is seed-blocked.** Within a (ratio, seed) cell every
  method shares the labelled images and the random numbers it does not own, so each contender's
  per-seed difference to the baseline removes what the seed shares. Testing one contender alone
  leaves S − 1 degrees of freedom for the spread of those differences (4 with 5 seeds, a critical t
  of about 5 at Holm's α/6); the design measures that spread k times, once per contender.
- **Pooled spread, guarded.** The spread of the per-seed differences is pooled over the family
  (weighted by degrees of freedom). A contender whose own spread is larger keeps its own: pooling
  a noisy contender with quiet ones would make its test too liberal (simulated: 5.7–5.9 % family-wise
  false positives with the baseline at twice the spread or spreads from ½ to 2×; with the guard
  2.8–4.5 %: docs/measurements/2026-12-07-manytoone-simulation). The differences share the
  baseline, so their variance estimates correlate (ρ² = ¼ at the contrasts' ρ = ½): the pooled estimate has
  ν = Σ(S_m − 1) / (1 + (k − 1)/4) effective degrees of freedom, S − 1 for one contender.
- **Test images are crossed, not nested.** Every seed is scored on the same test images, so a
  per-image method effect (a contender better on some images, worse on others) is shared by all
  seeds and does not average out over seeds. Its variance is estimated from the seeds × images
  matrix of differences by the crossed two-way decomposition (mean squares of images and of the
  residual: σ²_image = (MS_image − MS_residual)/S, clipped at 0) and added to the seed term:
      Var(mean difference) = s²_seeds / S + σ²_image / I.
- **Many-to-one critical values.** The k statistics share the baseline, so they are correlated;
  their joint law under the null is a multivariate t with one-factor correlation ρ_jl = λ_j λ_l
  (λ_j² the baseline's share of contrast j's variance: ½ with equal spreads, as in Dunnett 1955).
  The critical value c with P(max_j |T_j| ≤ c) = 1 − α is computed by integrating that law exactly
  (Gauss–Hermite over the common factor, the trapezoid rule in the log of the t's scale); a family-adjusted
  p is P(max_j |T_j| ≥ |t_j|). Family-wise error ≤ α over the contenders (single-step, so the
  simultaneous confidence intervals match the verdicts).
- **MDD**: the true difference a contender must have for its own statistic to pass c with the
  stated power; its range comes from the 95 % chi-square interval of the pooled spread.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy import optimize, special
from scipy import stats as sps

#: Correlation between two contenders' per-seed differences when spreads are equal (they share the
#: baseline's half of the variance); its square discounts the pooled estimate's degrees of freedom.
SHARED_BASELINE_RHO = 0.5
#: Quadrature nodes over the common factor (Gauss–Hermite) and over the t's scale (trapezoid in log s);
#: tests/test_manytoone.py checks the result against Dunnett's tables and adaptive quadrature.
FACTOR_NODES = 40
SCALE_NODES = 100
#: One contrast's power is a 1-D integral with a sharper edge (at δ ≈ c·s): finer nodes, still cheap.
POWER_NODES = 1000

METHOD = ("many-to-one test of every contender against the baseline on the per-seed differences (seeds as "
          "blocks, test images crossed with seeds), spread pooled over the contenders, critical values of "
          "the maximum |t| (family-wise error ≤ α)")


@dataclass(frozen=True)
class CrossedTerms:
    """One contrast's seeds × images matrix of differences, summarised."""

    mean: float
    seed_var: float  # variance over seeds of the per-seed mean difference (ddof 1); NaN with one seed
    image_term: float  # σ²_image / I, the crossed per-image effect's share of the mean's variance (≥ 0)
    n_seeds: int
    n_images: int


def crossed_terms(differences: np.ndarray) -> CrossedTerms:
    """The mean, seed variance and crossed image term of a seeds × images matrix."""
    values = np.asarray(differences, dtype=float)
    if values.ndim != 2 or 0 in values.shape:
        raise ValueError(f"need a seeds × images matrix with at least one of each, got shape {values.shape}")
    n_seeds, n_images = values.shape
    seed_means, image_means = values.mean(axis=1), values.mean(axis=0)
    seed_var = float(seed_means.var(ddof=1)) if n_seeds > 1 else math.nan
    image_term = 0.0
    if n_seeds > 1 and n_images > 1:
        residual = values - seed_means[:, None] - image_means[None, :] + values.mean()
        ms_residual = float((residual ** 2).sum()) / ((n_seeds - 1) * (n_images - 1))
        ms_images = n_seeds * float(image_means.var(ddof=1))
        image_term = max(0.0, ms_images - ms_residual) / (n_seeds * n_images)
    return CrossedTerms(float(values.mean()), seed_var, image_term, n_seeds, n_images)


def pooled_df(seed_counts: Sequence[int]) -> float:
    """Effective degrees of freedom of the spread pooled over contrasts that share the baseline."""
    family = len(seed_counts)
    return sum(s - 1 for s in seed_counts) / (1 + (family - 1) * SHARED_BASELINE_RHO ** 2)


@lru_cache(maxsize=64)
def _scale_nodes(df: float, count: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and weights over s = √(V/ν), V ~ χ²(ν), the t statistic's denominator in standard errors.

    The trapezoid rule in log s: there the density is smooth and falls off exponentially on both
    sides, so the rule converges geometrically (5e-7 against Student's t for ν from 1.5 to 1,000 with
    100 nodes, where Gauss–Laguerre in V stalls at 1e-4 for small ν). The range holds e^−40 of either tail."""
    low = -max(1.2 * math.sqrt(40 / df), min(40 / df, 30.0))
    high = max(1.2 * math.sqrt(40 / df), 0.5 * math.log(80 / df) + 0.5)
    y = np.linspace(low, high, count or SCALE_NODES)
    scale = np.exp(y)
    weights = np.exp(math.log(2 * df) + 2 * y + sps.chi2.logpdf(df * scale * scale, df)) * (y[1] - y[0])
    return scale, weights / weights.sum()


@lru_cache(maxsize=1)
def _factor_nodes() -> tuple[np.ndarray, np.ndarray]:
    nodes, weights = np.polynomial.hermite_e.hermegauss(FACTOR_NODES)
    return nodes, weights / math.sqrt(2 * math.pi)


def max_abs_t_cdf(critical: float, loadings: Sequence[float], df: float) -> float:
    """P(max_j |T_j| ≤ critical) for T_j = Z_j / s, Z standard normals with correlations λ_j λ_l, and s
    the scale of a t on `df` degrees of freedom (∞: s = 1)."""
    loadings = np.clip(np.asarray(loadings, dtype=float), 0.0, 1.0 - 1e-12)
    nodes, weights = _factor_nodes()
    scales, scale_weights = (np.ones(1), np.ones(1)) if math.isinf(df) else _scale_nodes(float(df))
    spread = np.sqrt(1 - loadings ** 2)
    bound = critical * scales[:, None, None]  # scale × factor × contrast
    shift = loadings[None, None, :] * nodes[None, :, None]
    inside = special.ndtr((bound - shift) / spread) - special.ndtr((-bound - shift) / spread)
    return float(scale_weights @ (np.prod(inside, axis=2) @ weights))


@lru_cache(maxsize=256)
def _critical(loadings: tuple[float, ...], df: float, alpha: float) -> float:
    high = sps.t.ppf(1 - alpha / (2 * len(loadings)), df) + 1.0  # above Bonferroni's, which is conservative
    return float(optimize.brentq(lambda c: max_abs_t_cdf(c, loadings, df) - (1 - alpha), 0.0, high, xtol=1e-7))


def critical_value(loadings: Sequence[float], df: float, alpha: float) -> float:
    """The two-sided many-to-one critical value: P(max_j |T_j| ≤ c) = 1 − α (one contrast: Student's t)."""
    if len(loadings) == 1:
        return float(sps.t.ppf(1 - alpha / 2, df))
    return _critical(tuple(round(float(x), 6) for x in loadings), round(float(df), 6), alpha)


def rejection_power(noncentrality: float, df: float, critical: float) -> float:
    """P(|Z + δ| > c·s): the chance one contrast with a true effect of δ standard errors passes c."""
    scales, weights = (np.ones(1), np.ones(1)) if math.isinf(df) else _scale_nodes(float(df), POWER_NODES)
    bound = critical * scales
    return float(weights @ (special.ndtr(noncentrality - bound) + special.ndtr(-noncentrality - bound)))


@lru_cache(maxsize=256)
def detectable_multiple(critical: float, df: float, power: float) -> float:
    """The effect, in standard errors, that passes `critical` with probability `power`."""
    return float(optimize.brentq(lambda d: rejection_power(d, df, critical) - power, 0.0, 10 * critical + 10,
                                 xtol=1e-9))


@dataclass(frozen=True)
class FamilyTest:
    """One family's contrasts against the baseline (arrays in the order given)."""

    diff: np.ndarray
    se: np.ndarray
    low: np.ndarray  # simultaneous 1 − α interval: diff ± critical · se
    high: np.ndarray
    p: np.ndarray  # each contrast alone, on the pooled degrees of freedom
    p_family: np.ndarray  # P(max |T| ≥ |t_j|) under the null: family-wise adjusted
    mdd: np.ndarray
    mdd_low: np.ndarray  # from the pooled spread's 95 % interval
    mdd_high: np.ndarray
    image_share: np.ndarray  # the crossed image term's share of each contrast's variance
    pooled_seed_var: float
    df: float
    critical: float
    n_seeds: np.ndarray
    n_images: np.ndarray


def _family_se(seed_var: np.ndarray, pooled: float, image_term: np.ndarray, seeds: np.ndarray) -> np.ndarray:
    return np.sqrt(np.maximum(seed_var, pooled) / seeds + image_term)


def _loadings(pooled: float, se: np.ndarray, seeds: np.ndarray) -> np.ndarray:
    """Each contrast's shared-baseline loading: λ² = (pooled / 2 / S) / SE², at most ½."""
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(se > 0, (1 - SHARED_BASELINE_RHO) * pooled / seeds / se ** 2, SHARED_BASELINE_RHO)
    return np.sqrt(np.clip(share, 0.0, SHARED_BASELINE_RHO))


@dataclass(frozen=True)
class FamilyStatistics:
    """What the family's test rests on, before any critical value."""

    diff: np.ndarray
    se: np.ndarray
    t: np.ndarray
    loadings: np.ndarray
    df: float
    pooled_seed_var: float
    own_seed_var: np.ndarray
    image_term: np.ndarray
    n_seeds: np.ndarray
    n_images: np.ndarray

    def p_family(self) -> np.ndarray:
        """P(max |T| ≥ |t_j|) under the null: each contrast's family-wise adjusted p."""
        if len(self.t) == 1:
            return 2 * sps.t.sf(np.abs(self.t), self.df)
        return np.array([1.0 - max_abs_t_cdf(abs(value), self.loadings, self.df) if math.isfinite(value) else 0.0
                         for value in self.t]).clip(0.0, 1.0)

    def smallest_p_family(self) -> float:
        """The family's smallest adjusted p (one integral): below α, some contrast is called different."""
        return float(1.0 - max_abs_t_cdf(float(np.abs(self.t).max()), self.loadings, self.df))


def family_statistics(differences: Sequence[np.ndarray]) -> FamilyStatistics:
    """Each seeds × images matrix of paired differences (contender − baseline) summarised, the spread
    pooled with the guard, and the statistics' correlation. Every matrix needs at least 2 seeds."""
    terms = [crossed_terms(d) for d in differences]
    if not terms or any(t.n_seeds < 2 for t in terms):
        raise ValueError("every contrast needs at least 2 seeds")
    seeds = np.array([t.n_seeds for t in terms], dtype=float)
    own = np.array([t.seed_var for t in terms])
    image = np.array([t.image_term for t in terms])
    diff = np.array([t.mean for t in terms])
    pooled = float(((seeds - 1) * own).sum() / (seeds - 1).sum())
    se = _family_se(own, pooled, image, seeds)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(se > 0, diff / se, np.where(diff == 0, 0.0, np.inf))
    return FamilyStatistics(diff, se, t, _loadings(pooled, se, seeds), pooled_df([t.n_seeds for t in terms]),
                            pooled, own, image, seeds.astype(int), np.array([t.n_images for t in terms]))


def many_to_one(differences: Sequence[np.ndarray], alpha: float = 0.05, power: float = 0.80) -> FamilyTest:
    """Test each seeds × images matrix of paired differences (contender − baseline) against 0, as one
    family. Every matrix needs at least 2 seeds."""
    family = family_statistics(differences)
    df, pooled, se = family.df, family.pooled_seed_var, family.se
    critical = critical_value(family.loadings, df, alpha)
    multiple = detectable_multiple(critical, df, power)
    low_var, high_var = (df * pooled / sps.chi2.ppf(q, df) for q in (0.975, 0.025))
    image, own, seeds = family.image_term, family.own_seed_var, family.n_seeds.astype(float)
    return FamilyTest(
        diff=family.diff, se=se, low=family.diff - critical * se, high=family.diff + critical * se,
        p=2 * sps.t.sf(np.abs(family.t), df), p_family=family.p_family(), mdd=multiple * se,
        mdd_low=multiple * _family_se(own, low_var, image, seeds),
        mdd_high=multiple * _family_se(own, high_var, image, seeds),
        image_share=np.divide(image, se ** 2, out=np.zeros_like(image), where=se > 0), pooled_seed_var=pooled,
        df=df, critical=critical, n_seeds=family.n_seeds, n_images=family.n_images)


def family_mdd(seed_var: float, image_term: float, n_seeds: int, family: int, alpha: float = 0.05,
               power: float = 0.80) -> float:
    """The MDD of one contrast in a family of `family` contrasts with this spread per seed (variance
    of a per-seed difference) and image term, at `n_seeds` seeds: what a run of that many seeds
    would print, all contenders being as spread as the one measured."""
    if n_seeds < 2 or not math.isfinite(seed_var):
        return math.nan
    df = pooled_df([n_seeds] * family)
    se = math.sqrt(seed_var / n_seeds + image_term)
    loadings = _loadings(seed_var, np.full(family, se), np.full(family, float(n_seeds)))
    return detectable_multiple(critical_value(loadings, df, alpha), df, power) * se


def seeds_for(target: float, seed_var: float, image_term: float, family: int, alpha: float = 0.05,
              power: float = 0.80, most: int = 100) -> int | None:
    """The fewest seeds whose family MDD is at most `target` (None beyond `most`, or if the image
    term alone keeps it above). The MDD falls with the seeds (smaller SE, more degrees of freedom),
    so a bisection finds the first that reaches it."""
    def reaches(seeds: int) -> bool:
        return family_mdd(seed_var, image_term, seeds, family, alpha, power) <= target

    if not math.isfinite(seed_var) or not reaches(most):
        return None
    low, high = 2, most
    while low < high:
        middle = (low + high) // 2
        low, high = (low, middle) if reaches(middle) else (middle + 1, high)
    return low

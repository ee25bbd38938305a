"""Paired comparisons against the baseline whose unit is the training run, and the ranking they allow.

At each ratio, the contenders' paired differences to the baseline (same seeds, same test images:
within a (ratio, seed) cell every method shares the labelled images and is tested on the same
images) go through one many-to-one analysis of the seed-blocked design (`reports.stats.manytoone`). That
test decides the markers, the words "better" and "worse" and the ranking, with a family-wise error
of at most α over the contenders of a ratio. Each control is its own question (a family of one,
uncorrected), so its false-positive rate is the test's own. A method's own mean keeps the two-level
bootstrap interval of `reports.stats.hierarchical`.

The image-level Wilcoxon signed-rank test (pairs = test images, each averaged over seeds) stays as a
secondary column: it asks whether *these trained models* differ on these images, not whether the
method helps, and it is never a marker.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats as sps

from reports.stats.hierarchical import REFERENCE, SignificanceSettings, detectable_text, run_level
from reports.stats.manytoone import METHOD, many_to_one
from reports.labels import Metric, method_label, order_methods, order_ratios, role_of

BETTER_MARK = "↑"
WORSE_MARK = "↓"
IMAGE_TEST_NAME = "two-sided Wilcoxon signed-rank test over test images, given these trained models"


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


def wilcoxon_p(differences: np.ndarray) -> float:
    """Two-sided Wilcoxon signed-rank p-value of paired differences; all zero gives p = 1."""
    differences = np.asarray(differences, dtype=float)
    if len(differences) == 0:
        return float("nan")
    if np.all(differences == 0):
        return 1.0
    return float(sps.wilcoxon(differences).pvalue)


def seed_image_matrix(wide: pd.DataFrame, method: str, baseline: str | None = None) -> np.ndarray | None:
    """seeds × images of `method`'s values (minus the baseline's, paired) over the seeds both have and
    the images every such seed has; None when nothing is shared. `wide`: (seed, image_id) × method."""
    columns = [method] if baseline is None else [method, baseline]
    if any(c not in wide for c in columns):
        return None
    pairs = wide[columns].dropna()
    values = pairs[method] if baseline is None else pairs[method] - pairs[baseline]
    matrix = values.unstack("image_id").dropna(axis=1)
    return matrix.to_numpy(dtype=float) if matrix.size else None


def role(method: str, baseline: str) -> str:
    """The method's role in words ("positive control"); the tested baseline is the baseline whatever it declares."""
    return "baseline" if method == baseline else role_of(method).replace("-", " ")


def tie_ranks(means: pd.Series, mdd: float, higher_is_better: bool) -> pd.Series:
    """Competition ranks (1, 2, 2, 4) in which a method closer than `mdd` to the leader of its group
    shares the leader's rank: a gap the run cannot detect is a tie, not an order. NaN without an MDD."""
    if math.isnan(mdd):
        return pd.Series(np.nan, index=means.index)
    ranks, leader, rank = {}, None, 0
    for position, (method, value) in enumerate(means.sort_values(ascending=not higher_is_better).items(), 1):
        if leader is None or abs(value - leader) > mdd:  # equal values tie even when the MDD is 0
            leader, rank = value, position
        ranks[method] = rank
    return pd.Series(ranks).reindex(means.index)


def _method_record(wide: pd.DataFrame, method: str, baseline: str, metric: Metric,
                   settings: SignificanceSettings) -> dict[str, object]:
    own = run_level(seed_image_matrix(wide, method), settings)
    record: dict[str, object] = {
        "method": method, "role": role(method, baseline), "mean": float(own.mean),
        "mean_low": float(metric.clip(own.ci_low)), "mean_high": float(metric.clip(own.ci_high)), "n_seeds": own.n_seeds,
        "n_images": own.n_images, "pair_seeds": 0, "p_images": np.nan, "testable": False,
        **{column: np.nan for column in PAIRED_COLUMNS},
    }
    paired = seed_image_matrix(wide, method, baseline) if method != baseline else None
    if paired is not None:
        record.update(pair_seeds=paired.shape[0], p_images=wilcoxon_p(paired.mean(axis=0)),
                      testable=paired.shape[0] >= settings.min_seeds)
        if paired.shape[0] == 1:
            one = run_level(paired, settings)  # one trained model: an interval over its test images only
            record.update(diff=float(one.mean), diff_low=float(one.ci_low), diff_high=float(one.ci_high),
                          se=float(one.se))
    return record


#: What a paired comparison fills in (NaN where a method is not paired or has one seed).
PAIRED_COLUMNS = ("diff", "diff_low", "diff_high", "se", "p_seeds", "p_family", "mdd", "mdd_low", "mdd_high",
                  "image_share", "family_size", "critical", "df")


def _fill_family(block: pd.DataFrame, members: np.ndarray, matrices: dict[str, np.ndarray],
                 settings: SignificanceSettings) -> None:
    """One many-to-one analysis of the methods in `members` (reports.stats.manytoone), written into `block`."""
    names = block.loc[members, "method"].tolist()
    test = many_to_one([matrices[m] for m in names], settings.alpha, settings.power)
    values = {"diff": test.diff, "diff_low": test.low, "diff_high": test.high, "se": test.se, "p_seeds": test.p,
              "p_family": test.p_family, "mdd": test.mdd, "mdd_low": test.mdd_low, "mdd_high": test.mdd_high,
              "image_share": test.image_share, "family_size": len(names), "critical": test.critical, "df": test.df}
    for column, value in values.items():
        block.loc[members, column] = value


def _analyse(block: pd.DataFrame, wide: pd.DataFrame, baseline: str, settings: SignificanceSettings) -> None:
    """The contenders with seeds enough for a verdict form one family; each control is its own family of
    one (its own question, uncorrected). A contender with too few seeds for a verdict is analysed alone,
    so it cannot make the others' correction harsher; without any testable contender the paired ones
    (2 seeds or more) form the family, so the MDD says what those seeds could detect together."""
    matrices = {m: seed_image_matrix(wide, m, baseline) for m in block["method"] if m != baseline}
    paired = block["method"].map(lambda m: matrices.get(m) is not None and matrices[m].shape[0] >= 2).to_numpy()
    contender = (block["role"] == "contender").to_numpy()
    family = contender & paired & block["testable"].to_numpy(dtype=bool)
    if not family.any():
        family = contender & paired
    if family.any():
        _fill_family(block, family, matrices, settings)
    for index in np.flatnonzero(paired & ~family):
        _fill_family(block, np.arange(len(block)) == index, matrices, settings)


def _verdict(test: pd.Series, metric: Metric, alpha: float) -> str:
    if test["role"] == "baseline":
        return "baseline"
    if math.isnan(test["diff"]):
        return "no baseline"
    if not test["testable"]:
        return "too few seeds"
    if test["p_family"] >= alpha:
        return "no detectable difference"
    return "better" if (test["diff"] > 0) == metric.higher_is_better else "worse"


def _median(values: pd.Series) -> float:
    return float(np.nanmedian(values)) if np.isfinite(values).any() else np.nan


def compare_methods(rows: pd.DataFrame, metric: Metric, baseline: str,
                    settings: SignificanceSettings = SignificanceSettings()) -> pd.DataFrame:
    """One row per ratio × method: mean and its run-level CI; difference to the baseline with its
    simultaneous CI, p alone and family-adjusted (`p_family`), MDD with its range, and verdict
    (reports.stats.manytoone); the image-level p (secondary); the tie-aware rank. Also per ratio `run_mdd`
    (and `run_mdd_low`/`_high`), the median of the contenders' MDDs, which decides the ties."""
    blocks = []
    for ratio in order_ratios(rows["ratio"]):
        at_ratio = rows[rows["ratio"] == ratio]
        wide = at_ratio.groupby(["seed", "image_id", "method"])[metric.key].mean().unstack("method")
        block = pd.DataFrame([_method_record(wide, m, baseline, metric, settings)
                              for m in order_methods(at_ratio["method"])])
        block.insert(0, "ratio", ratio)
        _analyse(block, wide, baseline, settings)
        contender = (block["role"] == "contender").to_numpy()
        block["p_images_holm"] = block["p_images"]
        block.loc[contender, "p_images_holm"] = holm(block.loc[contender, "p_images"].to_numpy())
        block["significant"] = block["testable"] & (block["p_family"] < settings.alpha)
        block["verdict"] = block.apply(_verdict, axis=1, metric=metric, alpha=settings.alpha)
        ranked = block["role"].isin(["baseline", "contender"]).to_numpy()
        for column in ("mdd", "mdd_low", "mdd_high"):
            block["run_" + column] = _median(block.loc[contender, column])
        block["rank"] = np.nan
        means = block.loc[ranked].set_index("method")["mean"]
        block.loc[ranked, "rank"] = tie_ranks(means, block["run_mdd"].iloc[0], metric.higher_is_better).to_numpy()
        blocks.append(block)
    return pd.concat(blocks, ignore_index=True) if blocks else pd.DataFrame()


def marker(test: pd.Series) -> str:
    """↑ significantly better than the baseline, ↓ significantly worse (run-level many-to-one test)."""
    return {"better": BETTER_MARK, "worse": WORSE_MARK}.get(test["verdict"], "")


def rank_text(rank: float, shared: bool) -> str:
    if math.isnan(rank):
        return "—"
    return f"={int(rank)}" if shared else str(int(rank))


def ranking_text(block: pd.DataFrame) -> str:
    """'CM-UNet = MAE > UNet (no PT)' for one ratio's comparison rows (contenders and baseline)."""
    ranked = block[block["rank"].notna()].sort_values(["rank", "mean"], ascending=[True, False])
    if ranked.empty:
        return "no ranking: " + seeds_note(block)
    groups = [" = ".join(method_label(m) for m in group["method"]) for _, group in ranked.groupby("rank", sort=True)]
    return " > ".join(groups)


def paired_seeds(block: pd.DataFrame) -> int:
    """The seeds the tests at one ratio rest on: those a method shares with the baseline (the most
    over the methods), or the seeds of the block when nothing is paired."""
    paired = block.loc[block["role"] != "baseline", "pair_seeds"]
    return int(paired.max()) if paired.max() > 0 else int(block["n_seeds"].max())  # NaN > 0 is False


def seeds_note(block: pd.DataFrame, decimals: int = 3) -> str:
    """What the run can resolve at one ratio: its seeds and MDD, said as a limit."""
    return detectable_text(paired_seeds(block), float(block["run_mdd"].iloc[0]), decimals)


def marker_note(baseline_label: str, settings: SignificanceSettings = SignificanceSettings()) -> str:
    return (f"{BETTER_MARK}/{WORSE_MARK}: significantly better/worse than {baseline_label} at that ratio "
            f"(family-wise p < {settings.alpha:g} over the contenders with at least {settings.min_seeds} seeds at "
            f"the ratio): {METHOD}. No marker with fewer than {settings.min_seeds} seeds. "
            "Controls are tested apart and never marked or ranked.")


#: Marks an interval that spans one trained model's test images (1 seed), not trainings.
ONE_MODEL_MARK = "†"


def interval_note() -> str:
    """What every run-level interval of the report is, said once for the page."""
    return (f"95 % confidence intervals [in square brackets]: of a method's mean, {REFERENCE}; of a difference to "
            "the baseline, simultaneous over the contenders of a ratio (the many-to-one test's critical value; a "
            "control's alone). Their unit is the training run, so with few seeds they are wide. {ONE_MODEL_MARK}: with 1 seed there is no spread between trainings to "
            "measure, and the interval covers that one trained model's test images only.")

"""The study's tables (Table I at one ratio, data efficiency across ratios) and the tests behind their
markers: paired differences to the baseline, the run's power and tie-aware ranking."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from benchmark.data.splits import Ratio
from reports.stats.hierarchical import SignificanceSettings
from reports.labels import DICE, TABLE_ONE_METRICS, Metric, contenders, method_label, order_ratios
from reports.stats.manytoone import METHOD
from reports.stats.significance import (IMAGE_TEST_NAME, ONE_MODEL_MARK, interval_note, marker, marker_note, paired_seeds,
                                  rank_text, ranking_text, seeds_note)
from reports.stats.numbers import mean_sd, relative_change
from reports.tables.table_format import Table

ALPHA = SignificanceSettings().alpha

MISSING = "—"


def signed(value: float, decimals: int) -> str:
    """+0.252 / −0.027 (a true minus sign), — for NaN."""
    if value is None or math.isnan(value):
        return MISSING
    return f"{value:+.{decimals}f}".replace("-", "−")


def p_text(p: float) -> str:
    if p is None or math.isnan(p):
        return MISSING
    if p < 0.001:
        return "< 0.001"
    text = f"{p:.3f}"
    # one more digit where rounding would put p on the other side of the significance level
    return text if (float(text) < ALPHA) == (p < ALPHA) else f"{p:.4f}"


def millions(count: float | None) -> str:
    if count is None or (isinstance(count, float) and math.isnan(count)):
        return MISSING
    return f"{count / 1e6:.2f}" if count >= 1e5 else f"{count / 1e6:.3f}"


def _best_rows(values: pd.Series, metric: Metric) -> set[str]:
    """Methods whose value equals the column's best (ties are all bold)."""
    values = values.dropna()
    if values.empty:
        return set()
    best = values.max() if metric.higher_is_better else values.min()
    return set(values.index[np.isclose(values, best, rtol=0, atol=10 ** -(metric.decimals + 3))])


def parameter_counts(rows: pd.DataFrame, jobs: pd.DataFrame) -> pd.DataFrame:
    """Per method: parameters during pre-training (NaN without one) and fine-tuning."""
    pre = jobs[(jobs["kind"] == "pretrain") & jobs["params"].notna()].groupby("method")["params"].max()
    fine = jobs[(jobs["kind"] == "finetune") & jobs["params"].notna()].groupby("method")["params"].max()
    if "params_finetune" in rows:
        fine = rows.dropna(subset=["params_finetune"]).groupby("method")["params_finetune"].max().combine_first(fine)
    return pd.DataFrame({"params_pretrain": pre, "params_finetune": fine})


def interval(low: float, high: float, decimals: int, sign: bool = False) -> str:
    """[0.601, 0.653] (or [−0.020, +0.110] for differences)."""
    text = (lambda v: signed(v, decimals)) if sign else (
        lambda v: MISSING if math.isnan(v) else f"{v:.{decimals}f}".replace("-", "−"))
    return f"[{text(low)}, {text(high)}]"


def table_one(rows: pd.DataFrame, jobs: pd.DataFrame, ratio: str, comparison: pd.DataFrame, baseline: str,
              settings: SignificanceSettings = SignificanceSettings()) -> Table:
    """Per contender at `ratio`: parameters and each metric as mean ± SD over test images; the Dice
    marker is the run-level test against the baseline. Controls have their own table."""
    methods = contenders(rows.loc[rows["ratio"] == ratio, "method"])
    params = parameter_counts(rows, jobs).reindex(methods)
    summaries = {m.key: mean_sd(rows, m.key, ratio).reindex(methods) for m in TABLE_ONE_METRICS}
    tests = comparison[comparison["ratio"] == ratio].set_index("method")
    columns = ("Method", "Params PT (M)", "Params FT (M)", *(m.header for m in TABLE_ONE_METRICS))
    cells, bold = [], set()
    for r, method in enumerate(methods):
        line = [method_label(method), millions(params.loc[method, "params_pretrain"]),
                millions(params.loc[method, "params_finetune"])]
        for c, metric in enumerate(TABLE_ONE_METRICS, start=3):
            mean, sd = summaries[metric.key].loc[method]
            sd_text = MISSING if math.isnan(sd) else f"{sd:.{metric.decimals}f}"
            mark = marker(tests.loc[method]) if metric is DICE and method in tests.index else ""
            line.append(f"{mean:.{metric.decimals}f} ± {sd_text}{mark}")
            if method in _best_rows(summaries[metric.key]["mean"], metric):
                bold.add((r, c))
        cells.append(tuple(line))
    data = pd.DataFrame({"method": methods, "ratio": ratio, **params.to_dict("list")})
    for metric in TABLE_ONE_METRICS:
        data[f"{metric.key}_mean"] = summaries[metric.key]["mean"].to_numpy()
        data[f"{metric.key}_sd"] = summaries[metric.key]["sd"].to_numpy()
    data["dice_verdict"] = [tests["verdict"].get(m, MISSING) for m in methods]
    n_images = rows.loc[rows["ratio"] == ratio, "image_id"].nunique()
    n_seeds = rows.loc[rows["ratio"] == ratio, "seed"].nunique()
    notes = (
        f"Mean ± SD over {n_images} test images (each image's value averaged over {n_seeds} seed(s)); the SD is "
        "the spread of images, not the uncertainty of the mean. "
        "HD: modified Hausdorff distance; ADD: artery diameter difference; lower is better for both. "
        f"Best value of each column in bold. Params: millions of parameters ({MISSING}: no pre-training).",
        seeds_note(tests.reset_index()) + f" at {ratio}.",
    )
    return Table("table1", f"Table I. Test segmentation at PT:FT {ratio}", columns, tuple(cells),
                 frozenset(bold), notes, data, (marker_note(method_label(baseline), settings),))


#: Marks a method whose Dice is higher at the smallest fine-tuning share than at the largest.
RISES_MARK = "‡"


def rises_with_fewer_labels(change: pd.Series) -> list[str]:
    """Methods whose Dice is higher with fewer labels: more labels should not hurt, so such a change
    is noise between trainings or an under-trained model at the larger share, not a gain."""
    return [str(m) for m, value in change.items() if pd.notna(value) and value > 0]


def _rise_note(rising: list[str], ratios: list[str]) -> str:
    fewer = Ratio.parse(ratios[-1]).ft / Ratio.parse(ratios[0]).ft
    return (f"{RISES_MARK} Dice rises with {fewer:g}× fewer labels ({ratios[-1]} → {ratios[0]}) for "
            f"{', '.join(method_label(m) for m in rising)}: more labels should not hurt, so this is most likely noise "
            "between trainings (compare the power table's MDD) or a model at the larger share that did not train "
            "to its best; it is not a gain to report, and is never bold.")


def _efficiency_cell(test: pd.Series, with_gain: bool) -> str:
    """'0.612 [0.580, 0.644] (+0.021)↑'; † after an interval of one trained model's test images."""
    text = f"{test['mean']:.3f} {interval(test['mean_low'], test['mean_high'], 3)}"
    if test["n_seeds"] < 2:
        text += ONE_MODEL_MARK
    if with_gain and not math.isnan(test["diff"]):
        text += f" ({signed(test['diff'], 3)})"
    return text + marker(test)


def efficiency_table(comparison: pd.DataFrame, baseline: str, settings: SignificanceSettings = SignificanceSettings(),
                     small_sets: tuple[str, ...] = ()) -> Table:
    """Mean Dice of each contender per ratio with its run-level 95 % CI and the paired gain over the
    baseline, and the relative Dice change from the largest to the smallest fine-tuning share.
    `small_sets`: warnings about fine-tuning sets too small to mean much (`reports.words.answer.tiny_sets`)."""
    shown = comparison[comparison["role"].isin(["baseline", "contender"])]
    methods, ratios = contenders(shown["method"]), order_ratios(shown["ratio"])
    means = shown.pivot(index="method", columns="ratio", values="mean").reindex(index=methods, columns=ratios)
    tests = shown.set_index(["method", "ratio"])
    change = relative_change(means)
    with_change = len(ratios) > 1
    rising = rises_with_fewer_labels(change) if with_change else []
    cells, bold = [], set()
    best = {ratio: _best_rows(means[ratio], DICE) for ratio in ratios}
    best_change = _best_rows(change.drop(rising), DICE)
    for r, method in enumerate(methods):
        line = [method_label(method)]
        for c, ratio in enumerate(ratios, start=1):
            if math.isnan(means.loc[method, ratio]):
                line.append(MISSING)
                continue
            line.append(_efficiency_cell(tests.loc[(method, ratio)], method != baseline))
            if method in best[ratio]:
                bold.add((r, c))
        if with_change:
            line.append(signed(change[method], 1) + (f" {RISES_MARK}" if method in rising else ""))
            if method in best_change:
                bold.add((r, len(ratios) + 1))
        cells.append(tuple(line))
    columns_of = {c: shown.pivot(index="method", columns="ratio", values=c).reindex(index=methods, columns=ratios)
                  for c in ("mean_low", "mean_high", "diff")}
    data = pd.concat([means.add_prefix("dice_"), columns_of["mean_low"].add_prefix("dice_low_"),
                      columns_of["mean_high"].add_prefix("dice_high_"), columns_of["diff"].add_prefix("gain_"), change],
                     axis=1)
    data = data.reset_index(names="method")
    data["rises_with_fewer_labels"] = data["method"].isin(rising)
    has_baseline = baseline in methods
    notes = (
        "Mean test Dice per PT:FT ratio (fine-tuning share growing to the right) with its 95 % CI in square brackets"
        + (f"; in parentheses the paired gain over {method_label(baseline)} at the same ratio" if has_baseline
           else f"; no {method_label(baseline)} results, so no gains over it")
        + (f"; last column: relative Dice change from {ratios[-1]} to {ratios[0]}" if with_change else "")
        + ". Best mean per column in bold (descriptive; see the power table for which gaps this run can resolve).",
        *([_rise_note(rising, ratios)] if rising else []),
        *(f"Warning: {s}, so its score is mostly luck." for s in small_sets),
    )
    columns = ("Method", *ratios) + ((f"Change {ratios[-1]} → {ratios[0]} (%)",) if with_change else ())
    return Table("data_efficiency", "Data efficiency: test Dice across PT:FT ratios", columns, tuple(cells),
                 frozenset(bold), notes, data, (marker_note(method_label(baseline), settings), interval_note()))


SIGNIFICANCE_COLUMNS = ("PT:FT", "Method", "Role", "Dice", "Δ vs baseline [95 % CI]", "Seeds", "Images", "p",
                        "Family p", "MDD (range)", "Verdict", "Rank", "p images (given these trained models)")


def mdd_text(mdd: float, low: float = math.nan, high: float = math.nan, decimals: int = 3) -> str:
    """'0.048 (0.037–0.066)': the MDD and the range its estimated spread allows (95 %)."""
    if math.isnan(mdd):
        return MISSING
    if math.isnan(low) or math.isnan(high):
        return f"{mdd:.{decimals}f}"
    return f"{mdd:.{decimals}f} ({low:.{decimals}f}–{high:.{decimals}f})"


def significance_table(comparison: pd.DataFrame, baseline: str, settings: SignificanceSettings = SignificanceSettings()) -> Table:
    """Every ratio × method: the paired difference to the baseline with its CI, the run-level p (alone and
    family-adjusted), the MDD, the verdict and the tie-aware rank; the image-level p as a secondary column."""
    cells, bold = [], set()
    shared = comparison.groupby(["ratio", "rank"])["method"].transform("size") > 1
    for r, (index, test) in enumerate(comparison.iterrows()):
        own = test["role"] == "baseline"
        difference = MISSING if math.isnan(test["diff"]) else (
            f"{signed(test['diff'], 3)} {interval(test['diff_low'], test['diff_high'], 3, sign=True)}")
        line = (test["ratio"], method_label(test["method"]), test["role"], f"{test['mean']:.3f}",
                "baseline" if own else difference, str(test["n_seeds"]), str(test["n_images"]),
                "baseline" if own else p_text(test["p_seeds"]), "baseline" if own else p_text(test["p_family"]),
                mdd_text(test["mdd"], test["mdd_low"], test["mdd_high"]), test["verdict"],
                rank_text(test["rank"], bool(shared.loc[index])),
                "baseline" if own else p_text(test["p_images_holm"]))
        if test["significant"]:
            bold.add((r, SIGNIFICANCE_COLUMNS.index("Family p")))
        cells.append(line)
    notes = (
        f"Run-level test: {METHOD}, on the differences method − {method_label(baseline)} per (seed, test image). "
        f"Family p: adjusted over the contenders at a ratio; below {settings.alpha:g} in bold (controls: alone, "
        f"each its own question). No verdict with fewer than {settings.min_seeds} seeds; such contenders are left "
        "out of the family. p: the contrast alone. The interval is simultaneous over the family.",
        f"MDD: minimum detectable difference, the true difference the marker's own test detects with probability "
        f"{settings.power:.0%}; in brackets the range the estimated spread between seeds allows (95 %). "
        "Rank: methods closer than the ratio's MDD (median over the contenders) to the leader of their group "
        "share its rank (=).",
        f"p images: {IMAGE_TEST_NAME} (pairs = test images, each averaged over seeds; Holm over the contenders). "
        "It treats the images as the replicates, so it says whether these particular trained models differ, "
        "not whether the method helps; it is never a marker.",
    )
    keep = ["ratio", "method", "role", "mean", "mean_low", "mean_high", "diff", "diff_low", "diff_high", "se",
            "n_seeds", "n_images", "p_seeds", "p_family", "mdd", "mdd_low", "mdd_high", "image_share", "family_size",
            "critical", "df", "run_mdd", "significant", "verdict", "rank", "p_images", "p_images_holm"]
    return Table("significance", "Paired tests of test Dice against the baseline", SIGNIFICANCE_COLUMNS,
                 tuple(cells), frozenset(bold), notes, comparison[keep].reset_index(drop=True))


def power_table(comparison: pd.DataFrame, settings: SignificanceSettings = SignificanceSettings()) -> Table:
    """Per ratio: seeds, test images, the run's MDD and the ranking it allows (ties within the MDD)."""
    cells, records = [], []
    for ratio in order_ratios(comparison["ratio"]):
        block = comparison[comparison["ratio"] == ratio]
        run_mdd = float(block["run_mdd"].iloc[0])
        n_seeds, n_images = paired_seeds(block), int(block["n_images"].max())  # what the MDD rests on
        contender = block[block["role"] == "contender"]
        largest = float(contender["diff"].abs().max()) if contender["diff"].notna().any() else float("nan")
        low, high = float(block["run_mdd_low"].iloc[0]), float(block["run_mdd_high"].iloc[0])
        cells.append((ratio, str(n_seeds), str(n_images), mdd_text(run_mdd, low, high),
                      MISSING if math.isnan(largest) else f"{largest:.3f}", seeds_note(block), ranking_text(block)))
        records.append({"ratio": ratio, "n_seeds": n_seeds, "n_images": n_images, "run_mdd": run_mdd,
                        "run_mdd_low": low, "run_mdd_high": high, "largest_abs_diff": largest,
                        "ranking": ranking_text(block)})
    notes = (
        f"MDD: the median over the contenders of their minimum detectable difference against the baseline "
        f"(power {settings.power:.0%} under the family-wise test of their markers; see the significance table), "
        "with the range the estimated spread between seeds allows (95 %). A gap between two "
        "methods below it is shown as a tie (=) in the ranking, not as an order.",
    )
    return Table("power", "Power: what this run can resolve, per ratio",
                 ("PT:FT", "Seeds", "Test images", "MDD (Dice)", "Largest contender gap", "Limit", "Ranking"),
                 tuple(cells), frozenset(), notes, pd.DataFrame(records))

"""The study's tables: Table I at one ratio, data efficiency across ratios, and the paired tests."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from reports.labels import DICE, TABLE_ONE_METRICS, Metric, method_label, order_methods, order_ratios
from reports.significance import ALPHA, TEST_NAME, marker_note, markers
from reports.stats import cell_means, gains, mean_sd, relative_change
from reports.table_format import Table

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


def table_one(rows: pd.DataFrame, jobs: pd.DataFrame, ratio: str, comparison: pd.DataFrame,
              baseline: str) -> Table:
    """Per method at `ratio`: parameters and Dice, clDice, IoU, HD, ADD as mean ± SD over test images."""
    methods = order_methods(rows.loc[rows["ratio"] == ratio, "method"])
    params = parameter_counts(rows, jobs).reindex(methods)
    summaries = {m.key: mean_sd(rows, m.key, ratio).reindex(methods) for m in TABLE_ONE_METRICS}
    marks = comparison[comparison["ratio"] == ratio].set_index("method").apply(markers, axis=1)
    columns = ("Method", "Params PT (M)", "Params FT (M)", *(m.header for m in TABLE_ONE_METRICS))
    cells, bold = [], set()
    for r, method in enumerate(methods):
        line = [method_label(method), millions(params.loc[method, "params_pretrain"]),
                millions(params.loc[method, "params_finetune"])]
        for c, metric in enumerate(TABLE_ONE_METRICS, start=3):
            mean, sd = summaries[metric.key].loc[method]
            sd_text = MISSING if math.isnan(sd) else f"{sd:.{metric.decimals}f}"
            mark = marks.get(method, "") if metric is DICE else ""
            line.append(f"{mean:.{metric.decimals}f} ± {sd_text}{mark}")
            if method in _best_rows(summaries[metric.key]["mean"], metric):
                bold.add((r, c))
        cells.append(tuple(line))
    data = pd.DataFrame({"method": methods, "ratio": ratio, **params.to_dict("list")})
    for metric in TABLE_ONE_METRICS:
        data[f"{metric.key}_mean"] = summaries[metric.key]["mean"].to_numpy()
        data[f"{metric.key}_sd"] = summaries[metric.key]["sd"].to_numpy()
    n_images = rows.loc[rows["ratio"] == ratio, "image_id"].nunique()
    n_seeds = rows.loc[rows["ratio"] == ratio, "seed"].nunique()
    notes = (
        f"Mean ± SD over {n_images} test images (each image's value averaged over {n_seeds} seed(s)). "
        "HD: modified Hausdorff distance; ADD: artery diameter difference; lower is better for both. "
        f"Best value of each column in bold. Params: millions of parameters ({MISSING}: no pre-training).",
        marker_note(method_label(baseline)),
    )
    return Table("table1", f"Table I. Test segmentation at PT:FT {ratio}", columns, tuple(cells),
                 frozenset(bold), notes, data)


def efficiency_table(rows: pd.DataFrame, comparison: pd.DataFrame, baseline: str) -> Table:
    """Mean Dice per method and ratio with the gain over the baseline, and the relative Dice change
    from the largest to the smallest fine-tuning share (the study's headline number)."""
    means = cell_means(rows, DICE.key)
    methods, ratios = order_methods(means.index), order_ratios(means.columns)
    means = means.reindex(index=methods, columns=ratios)
    gain, change = gains(means, baseline), relative_change(means)
    marks = comparison.set_index(["method", "ratio"]).apply(markers, axis=1)
    with_change = len(ratios) > 1
    cells, bold = [], set()
    best = {ratio: _best_rows(means[ratio], DICE) for ratio in ratios}
    for r, method in enumerate(methods):
        line = [method_label(method)]
        for c, ratio in enumerate(ratios, start=1):
            value, plus = means.loc[method, ratio], gain.loc[method, ratio]
            text = MISSING if math.isnan(value) else f"{value:.3f}"
            if method != baseline and not math.isnan(plus):
                text += f" ({signed(plus, 3)})"
            line.append(text + ("" if math.isnan(value) else marks.get((method, ratio), "")))
            if method in best[ratio]:
                bold.add((r, c))
        if with_change:
            line.append(signed(change[method], 1))
            if method in _best_rows(change, DICE):
                bold.add((r, len(ratios) + 1))
        cells.append(tuple(line))
    data = pd.concat([means.add_prefix("dice_"), gain.add_prefix("gain_"), change], axis=1)
    data = data.reset_index(names="method")
    has_baseline = baseline in means.index
    notes = (
        "Mean test Dice per PT:FT ratio (fine-tuning share growing to the right)"
        + (f"; in brackets the gain over {method_label(baseline)} at the same ratio" if has_baseline
           else f"; no {method_label(baseline)} results, so no gains over it")
        + (f"; last column: relative Dice change from {ratios[-1]} to {ratios[0]}" if with_change else "")
        + ". Best per column in bold.",
        marker_note(method_label(baseline)),
    )
    columns = ("Method", *ratios) + ((f"Change {ratios[-1]} → {ratios[0]} (%)",) if with_change else ())
    return Table("data_efficiency", "Data efficiency: test Dice across PT:FT ratios", columns, tuple(cells),
                 frozenset(bold), notes, data)


def significance_table(comparison: pd.DataFrame, baseline: str) -> Table:
    """Every ratio × method test: raw and Holm-adjusted p-values, over images and (if any) over seeds."""
    with_seeds = bool((comparison["n_seeds"] >= 2).any())
    families = ["p_baseline", "p_best"] + (["p_seeds_baseline", "p_seeds_best"] if with_seeds else [])
    titles = {"p_baseline": "vs baseline", "p_best": "vs best",
              "p_seeds_baseline": "vs baseline, seeds", "p_seeds_best": "vs best, seeds"}
    columns = ["PT:FT", "Method", "Dice", "Images", "Seeds"]
    for family in families:
        columns += [f"p {titles[family]}", f"Holm p {titles[family]}"]
    cells, bold = [], set()
    for r, (_, test) in enumerate(comparison.iterrows()):
        line = [test["ratio"], method_label(test["method"]), f"{test['mean']:.3f}", str(test["n_images"]),
                str(test["n_seeds"])]
        for family in families:
            own = (family.endswith("baseline") and test["method"] == baseline) or (family.endswith("best") and test["is_best"])
            tag = ("baseline" if family.endswith("baseline") else "best") if own else None
            line += [tag or p_text(test[family]), tag or p_text(test[f"{family}_holm"])]
            if test[f"{family}_holm"] < ALPHA:
                bold.add((r, len(line) - 1))
        cells.append(tuple(line))
    notes = (
        f"Test: {TEST_NAME}. Over images: pairs are the test images, each image's Dice averaged over seeds. "
        "Over seeds: pairs are the seeds' mean Dice (only where both cells have two seeds or more). "
        "Each family (one ratio; against the baseline, or against the best method) is Holm-corrected on its own. "
        f"Holm p < {ALPHA:g} in bold. Baseline: {method_label(baseline)}.",
    )
    keep = ["ratio", "method", "mean", "is_best", "n_images", "n_seeds"] + [
        c for f in families for c in (f, f"{f}_holm")]
    return Table("significance", "Paired tests of test Dice between methods", tuple(columns), tuple(cells),
                 frozenset(bold), notes, comparison[keep].reset_index(drop=True))

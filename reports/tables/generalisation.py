"""The generalisation table: each method's Dice on the run's own test split beside its Dice on every
external test set, per ratio, and the change between them.

The same fine-tuned models are scored on every set (their weights were chosen on the fine-tuning
set's validation part only), so a difference between columns is a difference of data, not of model
selection. Intervals and markers are those of every other table: a two-level bootstrap over seeds
and test images, and the run-level test against the baseline, run on each test set apart.
"""

from __future__ import annotations

import pandas as pd

from benchmark.data.external import IN_DOMAIN
from reports.stats.hierarchical import SignificanceSettings
from reports.labels import DICE, baseline, is_control, method_label, order_methods, order_ratios
from reports.stats.significance import compare_methods, interval_note, marker, marker_note
from reports.stats.numbers import cell_means, cell_summary
from reports.tables.table_format import Table
from reports.tables.study import MISSING, interval, signed


def _set_summaries(rows: pd.DataFrame, settings: SignificanceSettings) -> dict[str, pd.DataFrame]:
    """test set → its cell_summary on Dice, indexed by (method, ratio), with each contender's marker
    against the baseline on that set (the run-level test of every other table); in-domain first."""
    names = [IN_DOMAIN] + sorted(set(rows["test_set"]) - {IN_DOMAIN})
    summaries = {}
    for name in names:
        part = rows[rows["test_set"] == name]
        summary = cell_summary(part, DICE, settings).set_index(["method", "ratio"])
        summary["marker"] = ""
        summary["verdict"] = MISSING
        if baseline() in set(part["method"]):
            tests = compare_methods(part, DICE, baseline(), settings).set_index(["method", "ratio"])
            summary["verdict"] = tests["verdict"].reindex(summary.index).fillna(MISSING)
            summary["marker"] = [marker(tests.loc[i]) if i in tests.index and tests.loc[i, "role"] == "contender"
                                 else "" for i in summary.index]
        summaries[name] = summary
    return summaries


def generalisation_table(in_domain: pd.DataFrame, external: pd.DataFrame,
                         settings: SignificanceSettings = SignificanceSettings()) -> Table | None:
    """One row per method × ratio: in-domain Dice, each external set's Dice and its change from the
    in-domain value; None when the run has no external test set's rows."""
    if external.empty:
        return None
    rows = pd.concat([in_domain.assign(test_set=IN_DOMAIN), external], ignore_index=True)
    summaries = _set_summaries(rows, settings)
    externals = [name for name in summaries if name != IN_DOMAIN]
    decimals = DICE.decimals
    columns = ["Method", "PT:FT", f"{IN_DOMAIN} Dice"]
    for name in externals:
        columns += [f"{name} Dice", f"Δ {name}"]
    cells, records = [], []
    for method in order_methods(rows["method"]):
        for ratio in order_ratios(rows.loc[rows["method"] == method, "ratio"]):
            row = [method_label(method), ratio]
            record: dict[str, object] = {"method": method, "ratio": ratio}
            home = summaries[IN_DOMAIN]["mean"].get((method, ratio), float("nan"))
            for name, summary in summaries.items():
                if (method, ratio) not in summary.index:
                    row += [MISSING] if name == IN_DOMAIN else [MISSING, MISSING]
                    continue
                cell = summary.loc[(method, ratio)]
                text = f"{cell['mean']:.{decimals}f} {interval(cell['ci_low'], cell['ci_high'], decimals)}{cell['marker']}"
                row.append(text)
                record |= {f"{name}_dice": cell["mean"], f"{name}_ci_low": cell["ci_low"],
                           f"{name}_ci_high": cell["ci_high"], f"{name}_n_seeds": cell["n_seeds"],
                           f"{name}_n_images": cell["n_images"], f"{name}_verdict": cell["verdict"]}
                if name != IN_DOMAIN:
                    row.append(signed(cell["mean"] - home, decimals))
                    record[f"{name}_change"] = cell["mean"] - home
            cells.append(tuple(row))
            records.append(record)
    sizes = ", ".join(f"{name}: {int(summaries[name]['n_images'].max())} images" for name in summaries)
    notes = (
        f"Test Dice of the same fine-tuned models on the run's own test split ({IN_DOMAIN}) and on each external "
        f"test set ({sizes}), pre-processed as the training images. Models were selected on the fine-tuning "
        "set's validation part only; no external image was trained on or used for selection.",
        "Mean over seeds [95 % confidence interval]; Δ: the external set's mean minus the "
        f"{IN_DOMAIN} mean (negative: the model does worse on the external set).",
        "↑/↓ on each test set from its own test: a method that beats the baseline in-domain need not on an "
        "external set.",
    )
    return Table("generalisation", "Generalisation: in-domain against external test sets", tuple(columns),
                 tuple(cells), frozenset(), notes, pd.DataFrame(records),
                 (marker_note(method_label(baseline()), settings), interval_note()))


def generalisation_lines(in_domain: pd.DataFrame, external: pd.DataFrame) -> list[str]:
    """One headline line per external set: the range of the methods' Dice change from in-domain
    (controls left out), over every method × ratio both sets have."""
    if external.empty or in_domain.empty:
        return []
    home = cell_means(in_domain, DICE.key).stack()
    lines = []
    for name in sorted(set(external["test_set"])):
        rows = external[external["test_set"] == name]
        change = (cell_means(rows, DICE.key).stack() - home).dropna()
        change = change[[not is_control(m) for m in change.index.get_level_values("method")]]
        if change.empty:
            continue
        images = rows["image_id"].nunique()
        lines.append(f"external test set {name} ({images} images): Dice {signed(change.min(), 3)} to "
                     f"{signed(change.max(), 3)} from in-domain over {len(change)} method × ratio cells "
                     "(the generalisation table)")
    return lines

"""`draw_report`: a run folder in, the study's figures, tables and one HTML page out, drawn afresh.

Works on a finished run and on one still running or partly failed: whatever has rows is drawn,
and everything that has none is listed as missing, on the page and in the result. Callers go
through `reports.build.build_report`, which reuses a report whose inputs did not change.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

from benchmark.data.splits import Ratio
from benchmark.core.errors import BenchmarkError
from benchmark.core.files import atomic_write_bytes
from benchmark.run.folder.looks import read_looks
from benchmark.run.folder.store import require_run
from reports.result import FORMATS, ReportResult
from reports.tables.analysis import Analysis, analyse
from reports.words.answer import answer, small_set_warnings
from reports.tables.budget import budget_table
from reports.tables.health import health_table
from reports.tables.evaluations import evaluations_table
from reports.tables.controls import controls_table
from reports.tables.generalisation import generalisation_table
from reports.stats.hierarchical import SignificanceSettings
from reports.labels import DICE, baseline, contenders, drawn_with, method_label, order_methods, order_ratios, with_featured
from reports.read.contents import RunContents, read_run
from reports.render import figures, galleries
from reports.read import status
from reports.tables import study as tables
from reports.render.html import Page, PageFigure, render_page
from reports.words.reading import plain_words
from reports.stats.numbers import best_method, cell_means
from reports.words.summary import headline
from reports.render.style import save_figure
from reports.tables.table_format import TABLE_FILES, Table, write_table

FIGURE_NAMES = ("curves", "diameters", "gallery_predictions", "gallery_pretext", "loss_curves")
TABLE_NAMES = ("table1", "data_efficiency", "significance", "power", "controls", "generalisation", "evaluations",
               "budget", "health")


@dataclass(frozen=True)
class Choices:
    """What the report is drawn for, after defaults: Table I's ratio, the diameter method and ratios."""

    table_ratio: str
    diameter_method: str
    diameter_ratios: list[str]
    gallery_ratios: list[str]


def _pick(label: str, option: str, value: str, have: list[str], run_dir: Path) -> str:
    if value not in have:
        raise BenchmarkError(f"{option} {label}: no results in {run_dir} (have: {', '.join(have) or 'none'})")
    return value


def _ends(ratios: list[str]) -> list[str]:
    """Largest and smallest fine-tuning share (one ratio when only one is there)."""
    return list(dict.fromkeys([ratios[-1], ratios[0]]))


def choose(rows: pd.DataFrame, run_dir: Path, ratio: str | None, method: str | None) -> Choices:
    ratios = order_ratios(rows["ratio"])
    methods = order_methods(rows["method"])
    table_ratio = ratios[0] if ratio is None else _pick(ratio, "--ratio", Ratio.parse(ratio).label, ratios, run_dir)
    if method is not None:
        chosen = _pick(method, "--method", method, methods, run_dir)
    elif with_featured() in methods:
        chosen = with_featured()
    else:
        at_smallest = cell_means(rows, DICE.key)[ratios[0]].reindex(contenders(methods)).dropna()
        chosen = best_method(at_smallest, DICE.higher_is_better)
    own = order_ratios(rows.loc[rows["method"] == chosen, "ratio"])
    return Choices(table_ratio, chosen, _ends(own), _ends(ratios))


def _make_tables(contents: RunContents, choices: Choices, analysis: Analysis,
                 settings: SignificanceSettings) -> list[Table]:
    comparison = analysis.comparison
    made = [tables.table_one(contents.rows, contents.jobs, choices.table_ratio, comparison, baseline(), settings),
            tables.efficiency_table(comparison, baseline(), settings, tuple(small_set_warnings(contents))),
            tables.significance_table(comparison, baseline(), settings),
            tables.power_table(comparison, settings),
            controls_table(comparison, analysis.controls),
            generalisation_table(contents.rows, contents.external_rows, settings)]
    return [t for t in made if t is not None]


def _result_figures(contents: RunContents, choices: Choices) -> list[tuple[str, str, str, Figure | None]]:
    """(name, title, caption, figure or None when its inputs are missing) for the figures that need rows."""
    rows, label = contents.rows, method_label(choices.diameter_method)
    shape = contents.dataset.image_shape
    caveat = figures.diameter_caveat(rows[rows["method"] == choices.diameter_method], shape[-1] if shape else None)
    return [
        ("curves", "Segmentation against the PT:FT ratio", figures.curves_caption(rows), figures.curves_figure(rows)),
        ("diameters", f"Artery diameters of {label}",
         f"Mean artery diameter predicted by {label} against the ground truth, per test image (averaged over "
         f"seeds), at PT:FT {' and '.join(choices.diameter_ratios)}. Left: least-squares line, Pearson r and "
         "two-sided p. Right: Bland–Altman plot, predicted − ground truth against their mean, with the mean "
         "difference (bias) and the 95 % limits of agreement (mean ± 1.96 SD)." + (f" {caveat}" if caveat else ""),
         figures.diameter_figure(rows, choices.diameter_method, choices.diameter_ratios, caveat)),
        ("gallery_predictions", "Predictions on fixed test images",
         f"Input, ground truth and each method's prediction (its lowest seed) at PT:FT "
         f"{' and '.join(choices.gallery_ratios)}, drawn on the dimmed input: true positives white, false "
         "positives red, false negatives blue; the image's Dice in the corner.",
         galleries.prediction_gallery(contents.store, rows, choices.gallery_ratios)),
    ]


def _pretrain_figures(contents: RunContents) -> list[tuple[str, str, str, Figure | None]]:
    curves = contents.loss_curves
    return [
        ("gallery_pretext", "Pretext tasks",
         "For each SSL method (its pre-training job on the largest share, lowest seed): the original image, the "
         "pretext input the network sees, and its output (the reconstruction; for contrastive methods the second "
         "augmented view), on the original's grey scale.",
         galleries.pretext_gallery(contents.store, contents.jobs)),
        ("loss_curves", "Pre-training loss",
         "Pretext loss of every finished pre-training job against the optimiser step (log scale where it falls "
         "more than 20-fold), coloured by the share of the dataset used for pre-training.",
         figures.loss_figure(curves) if not curves.empty else None),
    ]


def planned_figures(contents: RunContents, choices: Choices | None) -> list[tuple[str, str, str, Figure | None]]:
    """Every figure of the report, in page order; result figures only when there are rows (`choices`)."""
    return (_result_figures(contents, choices) if choices else []) + _pretrain_figures(contents)


def _remove_stale(folder: Path, names: list[str], written: list[Path]) -> None:
    """Delete this report's own files left by an earlier build (another format, a figure no longer
    drawn), so the folder never shows results older than the page; other files are not touched."""
    for name in names:
        path = folder / name
        if path.is_file() and path not in written:
            path.unlink()


def draw_report(run_dir: Path, out: Path, ratio: str | None, method: str | None,
                formats: tuple[str, ...]) -> ReportResult:
    """Write the figures (in the checked `formats`), the tables (Markdown, LaTeX, CSV) and index.html
    to `out`; the options are those of `reports.build.build_report`. Methods are named and coloured
    as the run folder stores them (benchmark/run/folder/looks.py)."""
    require_run(run_dir)
    with drawn_with(read_looks(run_dir)):
        return _draw(run_dir, out, ratio, method, formats)


def _draw(run_dir: Path, out: Path, ratio: str | None, method: str | None, formats: tuple[str, ...]) -> ReportResult:
    contents = read_run(run_dir)
    missing = status.missing_lines(contents)
    choices = None if contents.rows.empty else choose(contents.rows, run_dir, ratio, method)
    if choices is not None and baseline() not in set(contents.rows["method"]):
        missing.append(f"no results of the baseline {baseline()!r}: no gains or tests against it")
    if choices is None:
        if ratio is not None or method is not None:
            option = f"--ratio {ratio}" if ratio is not None else f"--method {method}"
            raise BenchmarkError(f"{option}: no results in {run_dir} (have: none)")
        missing.append("no fine-tune job has finished: no table and no result figure can be drawn yet")
    settings = SignificanceSettings()
    analysis = analyse(contents.rows, settings) if choices else None
    probe = analyse(contents.probe_rows, settings) if choices and not contents.probe_rows.empty else None
    made_tables = _make_tables(contents, choices, analysis, settings) if choices else []
    if probe is not None:
        made_tables.append(evaluations_table(analysis.comparison, probe.comparison, probe.controls))
    budget = budget_table(contents.jobs)
    made_tables += [budget] if budget is not None else []
    health = health_table(contents.jobs)
    made_tables += [health] if health is not None else []
    planned = planned_figures(contents, choices)
    saved, page_figures = [], []
    for name, title, caption, figure in planned:
        assert name in FIGURE_NAMES, name  # stale-file clean-up below only knows these names
        if figure is None:
            missing.append(f"figure {name}: its inputs are not in the run folder (no previews or no finished job)")
            continue
        figure_file = save_figure(figure, out / "figures", name, formats)
        saved += figure_file.paths
        page_figures.append(PageFigure(name, title, caption, figure_file.png))
    table_paths = [path for table in made_tables for path in write_table(table, out / "tables")]
    _remove_stale(out / "figures", [f"{n}.{f}" for n in FIGURE_NAMES for f in FORMATS], saved)
    _remove_stale(out / "tables", [f"{n}{s}" for n in TABLE_NAMES for s in TABLE_FILES], table_paths)
    found = answer(contents, analysis.comparison if analysis else None, settings,
                   analysis.controls.positive if analysis else None)
    details = [line for line in headline(contents, choices.table_ratio if choices else None, analysis)
               if line != found.control]  # said once, first
    if probe is not None:
        details += [f"Frozen-encoder probe: {line}" for line in probe.controls.lines()]
    summary = found.lines() + details
    opening = ([found.resolution] if found.resolution else []) + found.paragraphs()
    page = Page(f"angiobench report: {run_dir.resolve().name}", str(run_dir.resolve()), found.control, found.warning(),
                tuple(opening), plain_words(settings), tuple(details),
                tuple(page_figures), tuple(made_tables), tuple(missing), status.state_counts(contents.jobs),
                status.unsuccessful_jobs(contents.jobs), contents.dataset, contents.config_text,
                status.provenance(contents))
    index = out / "index.html"
    atomic_write_bytes(index, render_page(page).encode())
    return ReportResult(out, index, saved, table_paths, missing, summary)

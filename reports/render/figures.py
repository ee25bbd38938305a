"""Plots of numbers: Dice/HD against the PT:FT ratio (Fig. 3), diameter agreement (Fig. 4), and the
pre-training loss curves."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter

from reports.stats.agreement import LIMIT_Z, bland_altman, diameters, pearson
from reports.stats.hierarchical import SignificanceSettings
from reports.labels import DICE, HD, Metric, method_label, order_methods, order_ratios
from reports.stats.numbers import cell_summary
from reports.render.style import fitted_legend, method_colour, method_marker, new_figure, styled

LOG_SPAN = 20  # a loss falling by more than this factor is drawn on a log axis
RATIO_AXIS = "PT:FT ratio (% of the dataset)"


def too_few_seeds_for_interval(n_seeds: int, settings: SignificanceSettings = SignificanceSettings()) -> bool:
    """A cell whose run-level interval is not worth drawing: with fewer seeds than a verdict needs it
    spans most of the metric's range (2 seeds: t on 1 degree of freedom, ×12.7) or, with one seed, is
    over test images only and looks like a run-level one."""
    return n_seeds < settings.min_seeds


#: Horizontal room the methods of one ratio share (in ratio steps), so their points and error bars
#: sit side by side instead of on top of each other.
DODGE_SPAN = 0.36
RISE_FLAG = "better with fewer labels"


def improves_with_fewer_labels(mean: np.ndarray, metric: Metric) -> bool:
    """Whether a curve (smallest fine-tuning share first) ends better at the smallest share than at the
    largest: more labels should not hurt, so such a curve is flagged, not read as a gain."""
    if len(mean) < 2 or np.isnan(mean[0]) or np.isnan(mean[-1]):
        return False
    return bool(mean[0] > mean[-1]) if metric.higher_is_better else bool(mean[0] < mean[-1])


def _dodge(k: int, n: int) -> float:
    return (k - (n - 1) / 2) * (DODGE_SPAN / max(n - 1, 1)) if n > 1 else 0.0


@styled
def curves_figure(rows: pd.DataFrame, metrics: tuple[Metric, ...] = (DICE, HD),
                  settings: SignificanceSettings = SignificanceSettings()) -> Figure:
    """One panel per metric: each method's mean over seeds against the ratio, its points offset
    sideways from the other methods' with a 95 % run-level interval as an error bar (none for a cell
    with too few seeds: `curves_caption` says so), joined by a thin line; a curve better at the
    smallest fine-tuning share than at the largest is flagged in the legend (never over the lines),
    which holds as many columns as fit the figure. x from the smallest share to the largest."""
    ratios, methods = order_ratios(rows["ratio"]), order_methods(rows["method"])
    figure = new_figure(5.0 * len(metrics), 4.4)
    axes = figure.subplots(1, len(metrics), squeeze=False)[0]
    x = np.arange(len(ratios))
    flagged: dict[str, list[str]] = {}  # method label → the metrics whose curve is flagged
    for ax, metric in zip(axes, metrics):
        summary = cell_summary(rows, metric, settings)
        for k, method in enumerate(methods):
            cell = summary[summary["method"] == method].set_index("ratio").reindex(ratios)
            shown = cell["mean"].notna().to_numpy()
            colour = method_colour(method)
            banded = shown & ~cell["n_seeds"].fillna(0).map(too_few_seeds_for_interval).to_numpy(dtype=bool)
            low, high = cell["ci_low"].to_numpy(), cell["ci_high"].to_numpy()
            mean = cell["mean"].to_numpy()
            where = x + _dodge(k, len(methods))
            errors = [np.where(banded, mean - low, 0)[shown], np.where(banded, high - mean, 0)[shown]]
            ax.errorbar(where[shown], mean[shown], yerr=errors if banded.any() else None, color=colour, capsize=3,
                        marker=method_marker(method), ms=5, lw=1.0, elinewidth=1.2, label=method_label(method))
            if len(ratios) > 1 and improves_with_fewer_labels(mean, metric):
                flagged.setdefault(method_label(method), []).append(metric.label)
        ax.set_xticks(x, ratios)
        ax.set_xlim(-0.5, len(ratios) - 0.5)
        ax.set_xlabel(RATIO_AXIS)
        ax.set_ylabel(f"{'modified ' if metric is HD else ''}{metric.axis_label}")
        ax.set_title(f"{'Modified HD' if metric is HD else metric.label} "
                     f"({'higher' if metric.higher_is_better else 'lower'} is better)")
    handles, labels = axes[0].get_legend_handles_labels()
    # a flag in the legend, never over the lines: "MAE (better with fewer labels!)", metrics named
    # when only some of the panels' curves are flagged
    labels = [label if label not in flagged else
              f"{label} ({RISE_FLAG}!{'' if len(flagged[label]) == len(metrics) else ': ' + ', '.join(flagged[label])})"
              for label in labels]
    fitted_legend(figure, handles, labels)
    return figure


def rising_curves(rows: pd.DataFrame, metric: Metric = DICE,
                  settings: SignificanceSettings = SignificanceSettings()) -> list[str]:
    """Methods whose curve of `metric` is better at the smallest fine-tuning share than at the largest."""
    ratios = order_ratios(rows["ratio"])
    if len(ratios) < 2:
        return []
    means = cell_summary(rows, metric, settings).pivot(index="method", columns="ratio", values="mean")
    return [m for m in order_methods(means.index)
            if improves_with_fewer_labels(means.loc[m].reindex(ratios).to_numpy(dtype=float), metric)]


def curves_caption(rows: pd.DataFrame, settings: SignificanceSettings = SignificanceSettings()) -> str:
    """The curves' caption: what a point and bar are, which curves are flagged, and, where cells have
    too few seeds for an interval, why none is drawn."""
    seeds = rows.groupby(["method", "ratio"])["seed"].nunique()
    text = ("Test Dice and modified Hausdorff distance; x from the smallest fine-tuning share (left) to the largest "
            "(right). Each method's points are set side by side at each ratio: point, mean over seeds; bar, its "
            "run-level 95 % confidence interval (see How to read the numbers), held to the metric's range.")
    rising = rising_curves(rows, DICE, settings)
    if rising:
        text += (f" Flagged \"{RISE_FLAG}!\" in the legend: Dice is higher at the smallest share than at the "
                 f"largest for {', '.join(method_label(m) for m in rising)}; more labels should not hurt, so read it "
                 "as noise between trainings or an under-trained model at the larger share, not as a gain.")
    if (seeds < settings.min_seeds).all():
        fewest = int(seeds.max())
        return (text + f" No bar is drawn: every cell has {fewest} seed{'s' if fewest != 1 else ''}, and an "
                f"interval whose unit is the training run needs at least {settings.min_seeds} (with 1 seed it could "
                "only cover that one model's test images; with 2 it spans most of the metric's range).")
    if (seeds < settings.min_seeds).any():
        return (text + f" Cells with fewer than {settings.min_seeds} seeds have no bar (too few training runs "
                "for an interval).")
    return text


def _p_text(p: float) -> str:
    if math.isnan(p):
        return "p = n/a"
    if p < 1e-3:
        mantissa, exponent = f"{p:.1e}".split("e")
        return rf"$p = {mantissa} \times 10^{{{int(exponent)}}}$"
    return f"p = {p:.3f}"


def _agreement_scatter(ax: Axes, frame: pd.DataFrame, colour: object) -> None:
    gt, pred = frame["diameter_gt"].to_numpy(), frame["diameter_pred"].to_numpy()
    fit = pearson(gt, pred)
    low, high = float(min(gt.min(), pred.min())), float(max(gt.max(), pred.max()))
    pad = 0.08 * (high - low or 1.0)
    span = np.array([low - pad, high + pad])
    ax.plot(span, span, ls="--", color="0.55", lw=1, label="identity (y = x)")
    ax.scatter(gt, pred, s=16, color=colour, alpha=0.75, edgecolor="white", linewidth=0.4, zorder=3)
    if not math.isnan(fit.slope):
        ax.plot(span, fit.intercept + fit.slope * span, color=colour, lw=1.6,
                label=f"fit: y = {fit.slope:.2f} x {'+' if fit.intercept >= 0 else '−'} {abs(fit.intercept):.2f}")
    r_text = "r = n/a" if math.isnan(fit.r) else f"r = {fit.r:.3f}"
    ax.set_xlim(span)
    ax.set_ylim(span)
    ax.set_aspect("equal", adjustable="box")
    ax.set_xlabel("ground-truth mean diameter (px)")
    ax.set_ylabel("predicted mean diameter (px)")
    # the statistics ride in the legend's title, so "best" placement keeps them off the points too
    ax.legend(title=f"{r_text}, {_p_text(fit.p)}, n = {fit.n}", loc="best", fontsize="small",
              title_fontsize="small", frameon=True, framealpha=0.9, edgecolor="0.8")


def _decimals(spread: float) -> int:
    """Decimals that show a spread of this size with two significant digits (at least two)."""
    if math.isnan(spread) or spread <= 0:
        return 2
    return max(2, 1 - math.floor(math.log10(spread)))


def _bland_altman_panel(ax: Axes, frame: pd.DataFrame, colour: object) -> None:
    gt, pred = frame["diameter_gt"].to_numpy(), frame["diameter_pred"].to_numpy()
    agreement = bland_altman(gt, pred)
    ax.scatter((gt + pred) / 2, pred - gt, s=16, color=colour, alpha=0.75, edgecolor="white", linewidth=0.4,
               zorder=3)
    places = _decimals(agreement.sd)
    lines = [(agreement.mean_difference, "-", f"mean {agreement.mean_difference:+.{places}f} px")]
    if not math.isnan(agreement.sd):
        lines += [(agreement.upper, "--", f"+{LIMIT_Z} SD {agreement.upper:+.{places}f} px"),
                  (agreement.lower, "--", f"−{LIMIT_Z} SD {agreement.lower:+.{places}f} px")]
    for value, style, text in lines:
        ax.axhline(value, color="0.25", ls=style, lw=1.1)
        ax.annotate(text.replace("-", "−"), (1.0, value), xycoords=("axes fraction", "data"), xytext=(-4, 3),
                    textcoords="offset points", ha="right", va="bottom", fontsize="small", zorder=2,
                    bbox={"boxstyle": "square,pad=0.1", "facecolor": "white", "edgecolor": "none", "alpha": 0.8})
    values = [v for v, _, _ in lines] + list(pred - gt)
    spread = max(values) - min(values) or 1.0
    ax.set_ylim(min(values) - 0.15 * spread, max(values) + 0.2 * spread)
    ax.set_xlabel("mean of predicted and ground-truth diameter (px)")
    ax.set_ylabel("predicted − ground-truth diameter (px)")


#: Ground-truth diameters at or below this (px, median over test images) are whole-pixel steps: the
#: diameter figure can then show no agreement, whatever the method does.
NARROWEST_MEANINGFUL_PX = 2.0


def diameter_caveat(rows: pd.DataFrame, image_side: int | None = None) -> str | None:
    """Why the diameter figure means little at this run's size (vessels ~1 px wide), or None."""
    gt = rows["diameter_gt"].dropna() if "diameter_gt" in rows else pd.Series(dtype=float)
    if gt.empty or float(gt.median()) > NARROWEST_MEANINGFUL_PX:
        return None
    size = f" at {image_side} px" if image_side else ""
    return (f"Caveat: vessels{size} are about {float(gt.median()):.1f} px wide, so diameters are whole-pixel steps "
            "and this figure cannot show agreement (nor its r and limits); run at a larger image size "
            "(e.g. --profile paper) to read it.")


@styled
def diameter_figure(rows: pd.DataFrame, method: str, ratios: list[str], caveat: str | None = None) -> Figure:
    """Per ratio (one row each): predicted against ground-truth diameter with the regression line,
    Pearson r and p; and the Bland–Altman plot with the bias and ±1.96 SD limits printed. A
    `caveat` (see diameter_caveat) is printed above the panels."""
    figure = new_figure(9.6, 4.4 * len(ratios) + (0.4 if caveat else 0.0))
    if caveat:
        figure.suptitle(caveat, color="#b03000", fontsize="small", wrap=True)
    axes = figure.subplots(len(ratios), 2, squeeze=False)
    colour = method_colour(method)
    for (scatter_ax, ba_ax), ratio in zip(axes, ratios):
        frame = diameters(rows, method, ratio)
        _agreement_scatter(scatter_ax, frame, colour)
        _bland_altman_panel(ba_ax, frame, colour)
        scatter_ax.set_title(f"{method_label(method)}, PT:FT {ratio}: correlation")
        ba_ax.set_title(f"{method_label(method)}, PT:FT {ratio}: Bland–Altman")
    return figure


#: A loss curve with fewer logged points than this shows them as markers: a short job logs only one
#: or two, and a line through a single point draws nothing.
MARKED_BELOW = 20


@styled
def loss_figure(curves: pd.DataFrame) -> Figure:
    """One panel per SSL method (losses differ in scale), one line per pre-training job, coloured
    by the share of the dataset it pre-trained on."""
    methods = order_methods(curves["method"])
    columns = min(3, len(methods))
    rows_n = math.ceil(len(methods) / columns)
    figure = new_figure(3.6 * columns, 3.0 * rows_n + 0.6)
    axes = figure.subplots(rows_n, columns, squeeze=False).ravel()
    shares = sorted(curves["pt_ratio"].dropna().unique())
    palette = dict(zip(shares, sns.color_palette("viridis", len(shares))))
    several_seeds = curves.groupby("method")["seed"].nunique().max() > 1
    for ax, method in zip(axes, methods):
        mine = curves[curves["method"] == method]
        for (share, seed), job in mine.groupby(["pt_ratio", "seed"], sort=True):
            ax.plot(job["step"], job["loss"], color=palette[share], lw=1.1, alpha=0.7 if several_seeds else 0.95,
                    marker="o" if len(job) < MARKED_BELOW else None, markersize=3.5)
        if (mine["loss"] > 0).all() and mine["loss"].max() > LOG_SPAN * mine["loss"].min():
            ax.set_yscale("log")
            ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
        ax.set_title(method_label(method))
        ax.set_xlabel("optimiser step")
        ax.set_ylabel("pretext loss (unitless)")
    for ax in axes[len(methods):]:
        ax.set_visible(False)
    handles = [Line2D([], [], color=palette[s], lw=2) for s in shares]
    figure.legend(handles, [f"{s:g} %" for s in shares], loc="outside lower center", ncols=len(shares),
                  title="pre-training share of the dataset" + (" (one line per seed)" if several_seeds else ""))
    return figure

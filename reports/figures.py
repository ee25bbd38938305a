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

from reports.agreement import LIMIT_Z, bland_altman, diameters, pearson
from reports.hierarchical import REFERENCE, SignificanceSettings
from reports.labels import DICE, HD, Metric, method_label, order_methods, order_ratios
from reports.stats import cell_summary
from reports.style import method_colour, method_marker, new_figure, styled

LOG_SPAN = 20  # a loss falling by more than this factor is drawn on a log axis
RATIO_AXIS = "PT:FT ratio (% of the dataset)"


def too_few_seeds_for_interval(n_seeds: int, settings: SignificanceSettings = SignificanceSettings()) -> bool:
    """A cell whose run-level interval is not worth drawing: with fewer seeds than a verdict needs it
    spans most of the metric's range (2 seeds: t on 1 degree of freedom, ×12.7) or, with one seed, is
    over test images only and looks like a run-level one."""
    return n_seeds < settings.min_seeds


@styled
def curves_figure(rows: pd.DataFrame, metrics: tuple[Metric, ...] = (DICE, HD),
                  settings: SignificanceSettings = SignificanceSettings()) -> Figure:
    """One panel per metric: mean over seeds against the ratio, one line per method, shaded 95 %
    run-level confidence interval held to the metric's range (none for a cell with too few seeds:
    `curves_caption` says so); x from the smallest fine-tuning share to the largest."""
    ratios, methods = order_ratios(rows["ratio"]), order_methods(rows["method"])
    figure = new_figure(5.0 * len(metrics), 4.4)
    axes = figure.subplots(1, len(metrics), squeeze=False)[0]
    x = np.arange(len(ratios))
    for ax, metric in zip(axes, metrics):
        summary = cell_summary(rows, metric, settings)
        for k, method in enumerate(methods):
            cell = summary[summary["method"] == method].set_index("ratio").reindex(ratios)
            shown = cell["mean"].notna().to_numpy()
            colour = method_colour(method)
            banded = shown & ~cell["n_seeds"].fillna(0).map(too_few_seeds_for_interval).to_numpy(dtype=bool)
            low, high = cell["ci_low"].to_numpy(), cell["ci_high"].to_numpy()
            mean = cell["mean"].to_numpy()
            if len(ratios) > 1:
                ax.plot(x[shown], mean[shown], marker=method_marker(method), color=colour, lw=1.6, ms=5,
                        label=method_label(method))
                if banded.any():
                    ax.fill_between(x, low, high, where=banded, color=colour, alpha=0.12, lw=0)
            else:  # one ratio: no line to draw a band along, so dodged points with error bars
                dodge = (k - (len(methods) - 1) / 2) * min(0.1, 0.5 / len(methods))
                errors = [np.where(banded, mean - low, 0)[shown], np.where(banded, high - mean, 0)[shown]]
                ax.errorbar(x[shown] + dodge, mean[shown], yerr=errors if banded.any() else None, color=colour,
                            capsize=3, marker=method_marker(method), ms=5, lw=1.4, label=method_label(method))
        ax.set_xticks(x, ratios)
        ax.set_xlim(-0.3, len(ratios) - 0.7)
        ax.set_xlabel(RATIO_AXIS)
        ax.set_ylabel(f"{'modified ' if metric is HD else ''}{metric.axis_label}")
        ax.set_title(f"{'Modified HD' if metric is HD else metric.label} "
                     f"({'higher' if metric.higher_is_better else 'lower'} is better)")
    handles, labels = axes[0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="outside lower center", ncols=min(len(labels), 7))
    return figure


def curves_caption(rows: pd.DataFrame, settings: SignificanceSettings = SignificanceSettings()) -> str:
    """The curves' caption: what a band is, and, where cells have too few seeds for one, why none is drawn."""
    seeds = rows.groupby(["method", "ratio"])["seed"].nunique()
    text = ("Test Dice and modified Hausdorff distance; x from the smallest fine-tuning share (left) to the largest "
            "(right). Line: mean over seeds; band: 95 % confidence interval from the " + REFERENCE + ", held to the "
            "metric's range (Dice 0–1, HD ≥ 0).")
    if (seeds < settings.min_seeds).all():
        fewest = int(seeds.max())
        return (text + f" No band is drawn: every cell has {fewest} seed{'s' if fewest != 1 else ''}, and an "
                f"interval whose unit is the training run needs at least {settings.min_seeds} (with 1 seed it could "
                "only cover that one model's test images; with 2 it spans most of the metric's range).")
    if (seeds < settings.min_seeds).any():
        return (text + f" Cells with fewer than {settings.min_seeds} seeds have no band (too few training runs "
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


@styled
def diameter_figure(rows: pd.DataFrame, method: str, ratios: list[str]) -> Figure:
    """Per ratio (one row each): predicted against ground-truth diameter with the regression line,
    Pearson r and p; and the Bland–Altman plot with the bias and ±1.96 SD limits printed."""
    figure = new_figure(9.6, 4.4 * len(ratios))
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

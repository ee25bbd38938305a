"""Image galleries from the previews jobs save: predictions with their errors coloured (Fig. 5) and
each SSL method's pretext input and output (Fig. 6)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure, SubFigure
from matplotlib.patches import Patch

from benchmark.run.folder.previews import PredictionPreview, PretextPreview
from benchmark.run.folder.store import RunStore
from reports.labels import method_label, order_methods
from reports.render.style import new_figure, styled

TP_COLOUR = (1.0, 1.0, 1.0)
FP_COLOUR = (0.93, 0.20, 0.16)
FN_COLOUR = (0.15, 0.55, 1.0)
BACKGROUND_LEVEL = 0.6  # the input is dimmed to this brightness so white true positives stand out
PANEL_INCHES = 1.45
LEGEND_INCHES = 0.45  # the prediction gallery's legend row


def display_range(image: np.ndarray) -> tuple[float, float]:
    """1st–99th percentile: a few extreme pixels must not wash out the vessels."""
    low, high = np.percentile(image, [1, 99])
    return float(low), float(high if high > low else low + 1.0)


def grey(image: np.ndarray, value_range: tuple[float, float]) -> np.ndarray:
    low, high = value_range
    return np.clip((image - low) / (high - low), 0.0, 1.0)


def error_overlay(image: np.ndarray, truth: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """RGB image: the dimmed input, true positives white, false positives red, false negatives blue."""
    rgb = np.repeat((BACKGROUND_LEVEL * grey(image, display_range(image)))[..., None], 3, axis=2)
    rgb[truth & pred] = TP_COLOUR
    rgb[~truth & pred] = FP_COLOUR
    rgb[truth & ~pred] = FN_COLOUR
    return rgb


def _bare(ax: Axes) -> None:
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)


def _note(ax: Axes, text: str) -> None:
    ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center", fontsize="small", color="0.35",
            wrap=True)


@dataclass(frozen=True)
class Prediction:
    """What a fine-tune job saved for the gallery: a few fixed test images and its predictions."""

    job_key: str
    ids: list[str]
    image: np.ndarray  # K×S×S float
    mask: np.ndarray  # K×S×S bool
    pred: np.ndarray  # K×S×S bool


def finetune_previews(store: RunStore, rows: pd.DataFrame, ratio: str) -> dict[str, Prediction]:
    """method → previews of its fine-tune job at `ratio` with the lowest seed (methods without any: absent)."""
    found = {}
    for method, jobs in rows[rows["ratio"] == ratio].groupby("method"):
        key = str(jobs.sort_values(["seed", "job_key"])["job_key"].iloc[0])
        saved = store.read_previews(key)
        if isinstance(saved, PredictionPreview):
            found[str(method)] = Prediction(key, [str(i) for i in saved.ids], saved.image,
                                            saved.mask.astype(bool), saved.pred.astype(bool))
    return found


def _prediction_block(panel: SubFigure, rows: pd.DataFrame, ratio: str, methods: list[str],
                      previews: dict[str, Prediction], count: int) -> None:
    reference = next(iter(previews.values()))
    ids = reference.ids[:count]
    axes = panel.subplots(len(ids), 2 + len(methods), squeeze=False)
    dice = rows[rows["ratio"] == ratio].set_index(["job_key", "image_id"])["dice"]
    for r, image_id in enumerate(ids):
        image, truth = reference.image[r], reference.mask[r]
        axes[r, 0].imshow(grey(image, display_range(image)), cmap="gray", vmin=0, vmax=1)
        axes[r, 1].imshow(error_overlay(image, truth, truth))
        axes[r, 0].set_ylabel(image_id, fontsize="small")
        for c, method in enumerate(methods, start=2):
            ax, mine = axes[r, c], previews.get(method)
            if mine is None or mine.ids[:count] != ids:
                _note(ax, "no preview")
                continue
            ax.imshow(error_overlay(image, truth, mine.pred[r]))
            score = dice.get((mine.job_key, image_id))
            if score is not None:
                ax.text(0.03, 0.03, f"Dice {score:.2f}", transform=ax.transAxes, fontsize="x-small", color="white",
                        va="bottom", bbox={"boxstyle": "square,pad=0.15", "facecolor": "black", "alpha": 0.6,
                                           "edgecolor": "none"})
    for c, title in enumerate(["input", "ground truth", *(method_label(m) for m in methods)]):
        axes[0, c].set_title(title, fontsize="small")
    for ax in axes.ravel():
        _bare(ax)
    panel.suptitle(f"PT:FT {ratio}", fontweight="bold")


@styled
def prediction_gallery(store: RunStore, rows: pd.DataFrame, ratios: list[str], count: int = 3) -> Figure | None:
    """For the first `count` preview images: input, ground truth and every method's prediction at each
    ratio (its lowest seed), errors coloured; None when no fine-tune job saved previews."""
    methods = order_methods(rows["method"])
    blocks = [(ratio, finetune_previews(store, rows, ratio)) for ratio in ratios]
    blocks = [(ratio, previews) for ratio, previews in blocks if previews]
    if not blocks:
        return None
    count = min(count, min(len(next(iter(p.values())).ids) for _, p in blocks))
    block_inches = PANEL_INCHES * count + 0.45
    figure = new_figure(PANEL_INCHES * (2 + len(methods)), block_inches * len(blocks) + LEGEND_INCHES)
    # The legend gets a row of its own: constrained layout keeps no room for a figure legend beside
    # subfigures, so one placed "outside" the blocks ended on (and past) the bottom edge.
    panels = figure.subfigures(len(blocks) + 1, 1, squeeze=False,
                               height_ratios=[block_inches] * len(blocks) + [LEGEND_INCHES])[:, 0]
    for panel, (ratio, previews) in zip(panels, blocks):
        _prediction_block(panel, rows, ratio, methods, previews, count)
    legend = [Patch(facecolor=TP_COLOUR, edgecolor="0.4", label="true positive"),
              Patch(facecolor=FP_COLOUR, label="false positive"), Patch(facecolor=FN_COLOUR, label="false negative")]
    panels[-1].legend(handles=legend, loc="center", ncols=3)
    return figure


def pretrain_previews(store: RunStore, jobs: pd.DataFrame) -> dict[str, dict[str, np.ndarray]]:
    """method → previews of its done pre-training job on the largest share (lowest seed)."""
    done = jobs[(jobs["kind"] == "pretrain") & (jobs["state"] == "done")]
    found = {}
    for method, mine in done.groupby("method"):
        key = mine.sort_values(["pt_ratio", "seed", "job_key"], ascending=[False, True, True])["job_key"].iloc[0]
        saved = store.read_previews(key)
        if isinstance(saved, PretextPreview):
            arrays = {"target": saved.target, "input": saved.input, "output": saved.output}
            found[str(method)] = {k: v[:, 0] if v.ndim == 4 else v for k, v in arrays.items() if v is not None}
    return found


@styled
def pretext_gallery(store: RunStore, jobs: pd.DataFrame, count: int = 2) -> Figure | None:
    """Per SSL method (one row): for `count` pre-training images, the original, the pretext input
    and the method's output, on one grey scale per image; None when no job saved previews."""
    previews = pretrain_previews(store, jobs)
    if not previews:
        return None
    methods = order_methods(previews)
    count = min(count, min(len(p["target"]) for p in previews.values()))
    titles = ("original", "pretext input", "output")
    figure = new_figure(PANEL_INCHES * 3 * count + 0.5, PANEL_INCHES * len(methods) + 0.4)
    axes = figure.subplots(len(methods), 3 * count, squeeze=False)
    for r, method in enumerate(methods):
        mine = previews[method]
        for i in range(count):
            value_range = display_range(mine["target"][i])
            for j, key in enumerate(("target", "input", "output")):
                ax = axes[r, 3 * i + j]
                if key in mine:
                    ax.imshow(grey(mine[key][i], value_range), cmap="gray", vmin=0, vmax=1)
                else:
                    _note(ax, "not saved")
                if r == 0:
                    ax.set_title(f"{titles[j]} {i + 1}", fontsize="small")
        axes[r, 0].set_ylabel(method_label(method), fontsize="small")
    for ax in axes.ravel():
        _bare(ax)
    return figure

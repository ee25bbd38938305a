"""The look shared by every figure: seaborn's paper style, one colour and marker per method, saving.

Figures are built with matplotlib's object-oriented `Figure` (no pyplot, so no global figure
state and no GUI backend); the style is applied through `rc_context` around each figure's
construction, never set globally.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import wraps
from pathlib import Path
from typing import ParamSpec, TypeVar

import matplotlib
import seaborn as sns
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.legend import Legend

from benchmark.core.files import atomic_write_bytes
from reports.labels import method_look, role_of

DPI = 200
BASELINE_COLOUR = "#3b3b3b"
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">")

P = ParamSpec("P")
R = TypeVar("R")


def theme() -> dict[str, object]:
    return {
        **sns.axes_style("whitegrid"),
        **sns.plotting_context("paper", font_scale=1.2),
        "axes.titleweight": "bold",
        "legend.frameon": False,
        "pdf.fonttype": 42,  # embed TrueType, so text in the PDF stays editable
        "svg.fonttype": "none",
        "image.interpolation": "nearest",
    }


@contextmanager
def styled_context() -> Iterator[None]:
    with matplotlib.rc_context(theme()):
        yield


def styled(build: Callable[P, R]) -> Callable[P, R]:
    """Run a figure builder with the report's style in effect (artists read rc at creation)."""
    @wraps(build)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with styled_context():
            return build(*args, **kwargs)
    return wrapper


def new_figure(width: float, height: float) -> Figure:
    return Figure(figsize=(width, height), layout="constrained")


def fitted_legend(figure: Figure, handles: list, labels: list[str], most_columns: int = 7) -> Legend:
    """A legend below the panels with as many columns as fit the figure's width: one row for a few
    methods, more rows for many long labels, never wider than the figure (where it would be cut)."""
    renderer = FigureCanvasAgg(figure).get_renderer()
    for columns in range(min(len(labels), most_columns), 0, -1):
        legend = figure.legend(handles, labels, loc="outside lower center", ncols=columns)
        if columns == 1 or legend.get_window_extent(renderer).width <= 0.98 * figure.bbox.width:
            return legend
        legend.remove()
    raise AssertionError("unreachable: one column always returns")


#: tab10 slots for a method that declares no colour (the study's methods use 0–4, 7 and 9).
_SPARE_SLOTS = (5, 6, 8)
#: Slots before those of methods outside the study's order: one per method of the study.
STUDY_SLOTS = 7


def _slot(method: str) -> int:
    """A fixed position per known method, so a method keeps its look whatever else is shown."""
    order = method_look(method).study_order
    return order if order is not None else STUDY_SLOTS + sum(map(ord, method))


def method_colour(method: str) -> tuple[float, float, float] | str:
    """The colour the method's file declares (stored in the run folder), else a spare tab10 slot
    (the baseline: dark grey)."""
    declared = method_look(method).colour
    if declared:
        return declared
    if role_of(method) == "baseline":
        return BASELINE_COLOUR
    return sns.color_palette("tab10", 10)[_SPARE_SLOTS[_slot(method) % len(_SPARE_SLOTS)]]


def method_marker(method: str) -> str:
    return MARKERS[_slot(method) % len(MARKERS)]


@dataclass(frozen=True)
class SavedFigure:
    name: str
    png: bytes  # always rendered, for the page, whether or not PNG files are asked for
    paths: tuple[Path, ...]


def save_figure(figure: Figure, folder: Path, name: str, formats: tuple[str, ...]) -> SavedFigure:
    png = _render(figure, "png")
    paths = []
    for fmt in formats:
        path = folder / f"{name}.{fmt}"
        atomic_write_bytes(path, png if fmt == "png" else _render(figure, fmt))
        paths.append(path)
    return SavedFigure(name, png, tuple(paths))


def _render(figure: Figure, fmt: str) -> bytes:
    buffer = io.BytesIO()
    with styled_context():
        figure.savefig(buffer, format=fmt, dpi=DPI, metadata=_metadata(fmt))
    return buffer.getvalue()


def _metadata(fmt: str) -> dict[str, str | None]:
    """No creation date in the file, so the same rows always give the same bytes."""
    if fmt == "pdf":
        return {"CreationDate": None, "Creator": "angiobench"}
    if fmt == "svg":
        return {"Date": None, "Creator": "angiobench"}
    return {"Software": "angiobench"}

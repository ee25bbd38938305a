"""How methods, ratios and metrics are named and ordered in every figure and table.

One place, so a method has the same name, colour and position everywhere, and a metric the same
unit and direction ("higher is better" decides what is bold and what "best" means). A method's name
and colour are its own (its file declares them; the run folder stores them), read here.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np

from benchmark.data.splits import Ratio
from benchmark.run.folder.looks import MethodLook

BASELINE = "supervised"

#: The study's methods in the order of its tables; methods not listed follow alphabetically.
METHOD_ORDER = ("supervised", "genesis", "mae", "spark", "moco", "cmunet", "vasomim")

#: The looks (display name, colour) of the run being drawn, which each method's file declares and
#: the run folder stores (benchmark/run/folder/looks.py). Scoped to one build by `drawn_with`, as
#: matplotlib's rc_context scopes a style: every table and figure names methods, and threading the
#: run's looks through each of them would add one argument to every function of the package.
_LOOKS: ContextVar[Mapping[str, MethodLook]] = ContextVar("method_looks", default=MappingProxyType({}))


@contextmanager
def drawn_with(looks: Mapping[str, MethodLook]) -> Iterator[None]:
    """Name and colour methods by `looks` inside the block (a build of one run's report)."""
    token = _LOOKS.set(MappingProxyType(dict(looks)))
    try:
        yield
    finally:
        _LOOKS.reset(token)


def method_look(name: str) -> MethodLook:
    """The look of `name` in the current build; an empty one (name as label, spare colour) if unknown."""
    return _LOOKS.get().get(name) or MethodLook("", "")

#: Controls are methods with a known answer, reported apart and never ranked with the contenders:
#: the positive one must beat the baseline at the smallest fine-tuning share, the negative one
#: (the baseline under an independent seed stream) has a true difference of zero.
POSITIVE_CONTROL = "control-oracle"
NEGATIVE_CONTROL = "control-null"
CONTROLS = (POSITIVE_CONTROL, NEGATIVE_CONTROL)


@dataclass(frozen=True)
class Metric:
    key: str  # column in rows.parquet
    label: str  # short name for table headers
    unit: str  # "" for unitless
    higher_is_better: bool
    decimals: int
    low: float = 0.0  # the metric's range: an interval of its mean never reaches outside it
    high: float = math.inf

    def clip(self, values: np.ndarray | float) -> np.ndarray:
        """Interval ends held to the metric's range (a mean of Dice values cannot be below 0 or above 1)."""
        return np.clip(np.asarray(values, dtype=float), self.low, self.high)

    @property
    def axis_label(self) -> str:
        return f"{self.label} ({self.unit or 'unitless'})"

    @property
    def header(self) -> str:
        return f"{self.label} ({self.unit})" if self.unit else self.label


DICE = Metric("dice", "Dice", "", True, 3, high=1.0)
CLDICE = Metric("cldice", "clDice", "", True, 3, high=1.0)
IOU = Metric("iou", "IoU", "", True, 3, high=1.0)
HD = Metric("hd", "HD", "px", False, 2)
HD95 = Metric("hd95", "HD95", "px", False, 2)
NSD = Metric("nsd", "NSD", "", True, 3, high=1.0)
ADD = Metric("add", "ADD", "px", False, 2)
TABLE_ONE_METRICS = (DICE, CLDICE, IOU, HD, HD95, NSD, ADD)


def method_label(name: str) -> str:
    return method_look(name).label or name


def order_methods(names: Iterable[str]) -> list[str]:
    """Distinct method names, the study's order first, then any other method alphabetically, the
    controls last."""
    unique = set(names)
    known = [m for m in METHOD_ORDER if m in unique]
    controls = [m for m in CONTROLS if m in unique]
    return known + sorted(unique - set(known) - set(controls)) + controls


def contenders(names: Iterable[str]) -> list[str]:
    """The methods being compared (the baseline included), in order, without the controls."""
    return [m for m in order_methods(names) if m not in CONTROLS]


def order_ratios(labels: Iterable[str]) -> list[str]:
    """Distinct ratio labels from the smallest fine-tuning share (79:1) to the largest (50:30)."""
    parsed = {Ratio.parse(str(label)) for label in set(labels)}
    return [r.label for r in sorted(parsed, key=lambda r: (r.ft, -r.pt))]


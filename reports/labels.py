"""How methods, ratios and metrics are named and ordered in every figure and table.

One place, so a method has the same name, colour and position everywhere, and a metric the same
unit and direction ("higher is better" decides what is bold and what "best" means). A method's name,
colour, role (the baseline, a contender, a control) and place in the study's order are its own (its
file declares them; the run folder stores them), read here.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np

from benchmark.core.errors import BenchmarkError
from benchmark.data.splits import Ratio
from benchmark.run.folder.looks import MethodLook
from benchmark.model.roles import CONTROL_ROLES, Role

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


def role_of(name: str) -> Role:
    """The method's role in the current build (a method no look names is a contender)."""
    return method_look(name).role


def with_role(role: Role) -> str | None:
    """The method of the current build that has `role` (None if none has; the first by name if several)."""
    return next((name for name, look in sorted(_LOOKS.get().items()) if look.role == role), None)


def baseline() -> str:
    """The method every other is tested against: the one whose file declares role "baseline"."""
    name = with_role("baseline")
    if name is None:
        raise BenchmarkError("no method of this run has the role 'baseline' (methods.json)")
    return name


def with_featured() -> str | None:
    """The method a figure of one method shows unless told another (its file declares `featured`)."""
    return next((name for name, look in sorted(_LOOKS.get().items()) if look.featured), None)


def is_control(name: str) -> bool:
    """Controls have a known answer: reported apart, never ranked with the contenders."""
    return role_of(name) in CONTROL_ROLES


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
    controls last (the positive one first)."""
    unique = set(names)
    controls = sorted((m for m in unique if is_control(m)), key=lambda m: CONTROL_ROLES.index(role_of(m)))
    rest = unique - set(controls)
    known = sorted((m for m in rest if method_look(m).study_order is not None),
                   key=lambda m: method_look(m).study_order)
    return known + sorted(rest - set(known)) + controls


def contenders(names: Iterable[str]) -> list[str]:
    """The methods being compared (the baseline included), in order, without the controls."""
    return [m for m in order_methods(names) if not is_control(m)]


def order_ratios(labels: Iterable[str]) -> list[str]:
    """Distinct ratio labels from the smallest fine-tuning share (79:1) to the largest (50:30)."""
    parsed = {Ratio.parse(str(label)) for label in set(labels)}
    return [r.label for r in sorted(parsed, key=lambda r: (r.ft, -r.pt))]


"""Each method's display name, colour and role, stored in the run folder (RUN_DIR/methods.json) when
the run opens, so a report draws a method it cannot import (no torch, or a method file since removed)
under the name and colour its file declared, and knows the baseline and the controls by the roles
their files declared. Imports neither torch nor the methods' files."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

from benchmark.core.dataclass_io import build
from benchmark.core.errors import BenchmarkError
from benchmark.core.files import atomic_write_json
from benchmark.run.folder.layout import LOOKS
from benchmark.model.roles import Role


@dataclass(frozen=True)
class MethodLook:
    label: str  # "" → the method's name
    colour: str  # a matplotlib colour; "" → a spare colour of the report's palette
    role: Role = "contender"  # methods.base.Method.role
    study_order: int | None = None  # its place in the study's tables; None: after those, alphabetically
    featured: bool = False  # shown by figures of one method unless the report is told another


def looks_of(classes: Mapping[str, type]) -> dict[str, MethodLook]:
    """name → look, from each method class's `label`, `colour`, `role`, `study_order` and `featured`
    (see methods.base.Method)."""
    return {name: MethodLook(cls.label, cls.colour, cls.role, cls.study_order, cls.featured)
            for name, cls in classes.items()}


#: How reports mark a contender pre-trained outside the run (`--pretrained NAME=PATH`).
IMPORTED_SUFFIX = " (imported)"


def imported_look(name: str) -> MethodLook:
    """Imported weights are named as given, marked as imported, in a spare colour."""
    return MethodLook(f"{name}{IMPORTED_SUFFIX}", "")


def write_looks(run_dir: Path, looks: Mapping[str, MethodLook]) -> None:
    atomic_write_json(Path(run_dir) / LOOKS, {name: asdict(look) for name, look in sorted(looks.items())})


def read_looks(run_dir: Path) -> dict[str, MethodLook]:
    """The stored looks; a missing or unreadable file, or a field of the wrong kind (a role no method
    can have), is an error naming the file (the run's own command writes it again, retraining nothing)."""
    path = Path(run_dir) / LOOKS
    try:
        plain = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise BenchmarkError(f"{path}: no readable method looks ({error}); run the run's command again "
                             "to write them") from None
    if not isinstance(plain, dict) or not all(isinstance(look, dict) for look in plain.values()):
        raise BenchmarkError(f"{path}: expected a JSON object of method looks")
    return {str(name): build(MethodLook, look, f"{path}: {name}") for name, look in plain.items()}

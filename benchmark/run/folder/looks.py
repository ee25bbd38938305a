"""Each method's display name and colour, stored in the run folder (RUN_DIR/methods.json) when the
run opens, so a report draws a method it cannot import (no torch, or a method file since removed)
under the name and colour its file declared. Imports neither torch nor the methods."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

from benchmark.core.files import atomic_write_json
from benchmark.run.folder.layout import LOOKS



@dataclass(frozen=True)
class MethodLook:
    label: str  # "" → the method's name
    colour: str  # a matplotlib colour; "" → a spare colour of the report's palette


def looks_of(classes: Mapping[str, type]) -> dict[str, MethodLook]:
    """name → look, from each method class's `label` and `colour` (see methods.base.Method)."""
    return {name: MethodLook(str(getattr(cls, "label", "") or ""), str(getattr(cls, "colour", "") or ""))
            for name, cls in classes.items()}


#: How reports mark a contender pre-trained outside the run (`--pretrained NAME=PATH`).
EXTERNAL_SUFFIX = " (external)"


def external_look(name: str) -> MethodLook:
    """External weights are named as given, marked as external, in a spare colour."""
    return MethodLook(f"{name}{EXTERNAL_SUFFIX}", "")


def write_looks(run_dir: Path, looks: Mapping[str, MethodLook]) -> None:
    atomic_write_json(Path(run_dir) / LOOKS, {name: asdict(look) for name, look in sorted(looks.items())})


def read_looks(run_dir: Path) -> dict[str, MethodLook]:
    """The stored looks; {} for a run without the file (older runs) or an unreadable one, whose
    methods the report then shows under their names in spare colours."""
    try:
        plain = json.loads((Path(run_dir) / LOOKS).read_text())
        return {str(name): MethodLook(str(look.get("label", "")), str(look.get("colour", "")))
                for name, look in plain.items()}
    except (OSError, ValueError, AttributeError):
        return {}

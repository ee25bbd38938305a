"""Package attributes imported on first use, so importing a light module of a package (its
registry, its splits) does not import its heavy neighbours (numpy, PIL, pycocotools, torch)."""

from __future__ import annotations

import importlib
from typing import Any, Callable, Mapping


def lazy_exports(package: str, by_module: Mapping[str, tuple[str, ...]]) -> tuple[list[str], Callable[[str], Any]]:
    """The package's `__all__` and a module `__getattr__` that imports each name from its module
    (`by_module`: module → the names it defines) on first use."""
    home = {name: module for module, names in by_module.items() for name in names}

    def __getattr__(name: str) -> Any:
        if name not in home:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(home[name]), name)

    return sorted(home), __getattr__

"""SSL methods, one file each, found by discovery: drop a file here and it joins the benchmark.

`registry()` imports every method file (and so torch); `catalogue()` reads what `methods list`
shows of each from the files' source, without importing them (methods._catalogue).
"""

from __future__ import annotations

import importlib
import inspect
from typing import TYPE_CHECKING

from methods._catalogue import MethodCard, NotStatic, method_modules, static_catalogue

if TYPE_CHECKING:  # importing the base imports torch: registry() does, when called
    from methods.base import Method

__all__ = ["MethodCard", "catalogue", "registry"]


def registry() -> dict[str, type[Method]]:
    """{name: class} of every concrete Method defined in a module of this package.

    Modules whose names start with '_' (shared helpers) and `base` are not scanned.
    """
    from methods.base import Method

    found: dict[str, type[Method]] = {}
    for name in method_modules():
        module = importlib.import_module(f"{__name__}.{name}")
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if (
                issubclass(cls, Method)
                and cls.__module__ == module.__name__
                and not inspect.isabstract(cls)
                and getattr(cls, "name", None)
            ):
                if cls.name in found:
                    raise RuntimeError(f"two methods are named {cls.name!r}")
                found[cls.name] = cls
    return found


def catalogue() -> dict[str, MethodCard]:
    """name → card of every registered method: read from source when it can be (no torch), else
    from the registry (which imports the methods)."""
    try:
        return static_catalogue()
    except (NotStatic, SyntaxError, OSError):
        return {name: MethodCard.of(cls) for name, cls in sorted(registry().items())}

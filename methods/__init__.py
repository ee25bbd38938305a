"""SSL methods, one file each, found by discovery: drop a file here and it joins the benchmark."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

from methods.base import Method, SSLMethod

__all__ = ["Method", "SSLMethod", "registry"]


def registry() -> dict[str, type[Method]]:
    """{name: class} of every concrete Method defined in a module of this package.

    Modules whose names start with '_' (shared helpers) and `base` are not scanned.
    """
    found: dict[str, type[Method]] = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_") or info.name == "base":
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
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

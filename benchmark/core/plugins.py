"""How a package's plug-ins are found, one rule for every plug-in package (the SSL methods, the dataset
formats): each of its modules whose name does not start with "_" and is not one of the package's own
helpers is one plug-in, named after its module. Lists names without importing the modules."""

from __future__ import annotations

import pkgutil
from collections.abc import Collection, Iterable
from pathlib import Path


def plugin_names(folders: Iterable[Path | str], helpers: Collection[str] = ()) -> list[str]:
    """The plug-in modules of the package whose folders (its `__path__`) are `folders`, sorted;
    `helpers`: its modules that are not plug-ins."""
    return sorted(m.name for m in pkgutil.iter_modules([str(f) for f in folders])
                  if not m.name.startswith("_") and m.name not in helpers)

"""angiobench: a benchmark harness for self-supervised pre-training in coronary-artery segmentation.

The one entry point a user imports: `from benchmark import load_results` (a run folder's rows as a
DataFrame; imports pandas, never torch). It is looked up on first use, so importing any part of the
harness does not load the run folder's readers."""

from __future__ import annotations

from importlib.metadata import version
from typing import Any

__version__ = version("angiobench")
__all__ = ["load_results"]


def __getattr__(name: str) -> Any:
    if name == "load_results":
        from benchmark.run.folder.store import load_results

        return load_results
    raise AttributeError(f"module 'benchmark' has no attribute {name!r}")

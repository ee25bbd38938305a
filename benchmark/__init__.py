"""angiobench: a benchmark harness for self-supervised pre-training in coronary-artery segmentation.

The one entry point a user imports: `from benchmark import load_results` (a run folder's rows as a
DataFrame; imports pandas, never torch). It is looked up on first use, so importing any part of the
harness does not load the run folder's readers."""

from __future__ import annotations

from importlib.metadata import version

from benchmark.core.lazy import lazy_exports

__version__ = version("angiobench")
__all__, __getattr__ = lazy_exports(__name__, {"benchmark.run.folder.store": ("load_results",)})

"""Data: readers, the synthetic generator, pre-processing, splits and augmentation.

The readers are importable from the package (`from benchmark.data import load_dataset`); they load
on first use, so importing a light module of the package (splits, say) does not import them.
"""

from __future__ import annotations

from benchmark.data._lazy import lazy_exports

_EXPORTS = {
    "load_dataset": "benchmark.data.readers",
    "load_unlabelled": "benchmark.data.readers",
    "scan_dataset": "benchmark.data.readers",
    "synthetic_dataset": "benchmark.data.synthetic",
    "LabelledDataset": "benchmark.data.dataset",
    "UnlabelledDataset": "benchmark.data.dataset",
}
__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)

"""Data: readers, the synthetic generator, pre-processing, splits and augmentation.

The readers are importable from the package (`from benchmark.data import load_dataset`); they load
on first use, so importing a light module of the package (splits, say) does not import them.
"""

from __future__ import annotations

from benchmark.core.lazy import lazy_exports

__all__, __getattr__ = lazy_exports(__name__, {
    "benchmark.data.readers": ("load_dataset", "load_unlabelled", "scan_dataset"),
    "benchmark.data.synthetic": ("synthetic_dataset",),
    "benchmark.data.dataset": ("LabelledDataset", "UnlabelledDataset"),
})

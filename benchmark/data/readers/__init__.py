"""Dataset readers, one module per format (folder, arcade, nnunet, …), found by `registry`.

Loading only lists files (and, for ARCADE, parses the COCO file once); pixels are read when an
item is accessed, so 1,000 angiograms cost no memory up front. Structural problems (a mask with
no image, an annotation for an unknown image, a polygon outside its image) are found at load
time; per-file problems (truncated, wrong size, non-binary) on access. `scan_dataset` returns
every structural problem instead of raising, for `inspect_dataset`.

The names below load on first use, so importing the registry (the command line's help lists the
formats) imports no reader.
"""

from __future__ import annotations

from benchmark.data._lazy import lazy_exports

_REGISTRY = "benchmark.data.readers.registry"
_EXPORTS = {
    "AUTO": _REGISTRY,
    "DatasetFormat": _REGISTRY,
    "KnownDataset": _REGISTRY,
    "check_format": _REGISTRY,
    "detect_format": _REGISTRY,
    "format_names": _REGISTRY,
    "formats": _REGISTRY,
    "load_dataset": _REGISTRY,
    "scan_dataset": _REGISTRY,
    "DatasetScan": "benchmark.data.readers._scan",
    "FilePairs": "benchmark.data.readers._scan",
    "fingerprint_files": "benchmark.data.readers._files",
    "load_unlabelled": "benchmark.data.readers._unlabelled",
    "ArcadeDataset": "benchmark.data.readers.arcade",
    "load_arcade": "benchmark.data.readers.arcade",
    "MASK_DIRS": "benchmark.data.readers.folder",
    "MASK_SUFFIXES": "benchmark.data.readers.folder",
}
__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)

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

from benchmark.core.lazy import lazy_exports

__all__, __getattr__ = lazy_exports(__name__, {
    "benchmark.data.readers.registry": ("AUTO", "DatasetFormat", "KnownDataset", "check_format", "detect_format",
                                        "format_names", "formats", "load_dataset", "scan_dataset"),
    "benchmark.data.readers._scan": ("DatasetScan", "FilePairs"),
    "benchmark.data.readers._files": ("fingerprint_files",),
    "benchmark.data.readers._unlabelled": ("load_unlabelled",),
    "benchmark.data.readers.arcade": ("ArcadeDataset", "load_arcade"),
    "benchmark.data.readers.folder": ("MASK_DIRS", "MASK_SUFFIXES"),
})

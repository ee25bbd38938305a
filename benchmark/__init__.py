"""angiobench: a benchmark harness for self-supervised pre-training in coronary-artery segmentation."""

__version__ = "0.1.0"

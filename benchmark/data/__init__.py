"""Data: readers, the synthetic generator, pre-processing, splits and augmentation."""

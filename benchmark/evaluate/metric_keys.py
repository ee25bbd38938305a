"""The names of the per-image metrics, in row order. Import-light (no numpy, scikit-image or numba),
so the row schema, and a report that only reads rows, can name them without loading the metrics."""

from __future__ import annotations

METRIC_KEYS: tuple[str, ...] = (
    "dice", "cldice", "iou", "hd", "hd95", "nsd", "add", "diameter_pred", "diameter_gt",
)

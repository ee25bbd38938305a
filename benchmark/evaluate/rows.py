"""Per-image metric rows from predicted and true masks, in parallel CPU processes when asked.

Metrics are CPU work (skeletons, distances); on a GPU machine the job hands the device back
before computing them, so they overlap the next job's training (see benchmark.run.execute.worker).
"""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor

import numpy as np

from benchmark.evaluate.metrics import segmentation_metrics


def _row(args: tuple[str, np.ndarray, np.ndarray]) -> dict[str, float | str]:
    image_id, pred, gt = args
    return {"image_id": image_id, **segmentation_metrics(pred, gt)}


def metric_rows(pred: np.ndarray, gt: np.ndarray, ids: list[str], processes: int = 1) -> list[dict[str, float | str]]:
    """One row per image (in the order of `ids`): its id and every segmentation metric."""
    items = list(zip(ids, pred.astype(bool), gt.astype(bool)))
    if processes <= 1 or len(items) < 2 * processes:
        return [_row(item) for item in items]
    with ProcessPoolExecutor(processes) as pool:
        return list(pool.map(_row, items, chunksize=max(1, len(items) // (4 * processes))))

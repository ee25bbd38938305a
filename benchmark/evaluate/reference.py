"""Plain contour-based HD and diameter, computed as the paper describes them, to check and time
benchmark.metrics.

The boundary here is the sub-pixel contour (skimage.measure.find_contours at level 0.5, i.e.
half-way between mask and background pixel centres), and nearest points come from a KD-tree
over its vertices. The fast metrics use whole pixels instead, so the two agree closely, not
exactly: on axis-aligned edges the distances are identical, on slanted edges they differ by a
fraction of a pixel. As in benchmark.evaluate.metrics, the outside of the image is background: the mask is
padded before the contour is traced, so every contour is closed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import partial
from typing import Callable

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage
from scipy.spatial import cKDTree
from skimage.draw import bezier_curve
from skimage.measure import find_contours
from skimage.morphology import skeletonize

from benchmark.evaluate import metrics
from benchmark.evaluate.metrics import Mask


def contour_points(mask: Mask) -> NDArray[np.float64]:
    """Vertices of the level-0.5 contours of the mask, N×2 (row, col), in image coordinates."""
    contours = find_contours(np.pad(mask, 1).astype(np.float64), 0.5)
    # Padding closes every contour, whose last vertex then repeats its first: drop it.
    return np.concatenate([contour[:-1] for contour in contours]) - 1.0


def reference_modified_hausdorff(pred: Mask, gt: Mask) -> float:
    """Modified Hausdorff distance between the contours, in pixels; same empty policy as
    metrics.modified_hausdorff (both empty → 0, one empty → image diagonal)."""
    metrics.check_pair(pred, gt)
    if not (pred.any() and gt.any()):  # the empty-mask policy is a convention, not geometry: shared
        return metrics.modified_hausdorff(pred, gt)
    contour_pred, contour_gt = contour_points(pred), contour_points(gt)
    pred_to_gt = cKDTree(contour_gt).query(contour_pred, workers=1)[0].mean()
    gt_to_pred = cKDTree(contour_pred).query(contour_gt, workers=1)[0].mean()
    return float(max(pred_to_gt, gt_to_pred))


def reference_mean_diameter(mask: Mask) -> float:
    """2 × mean distance from skeleton pixels to the nearest contour vertex, in pixels; empty → 0."""
    metrics.check_mask(mask, "mask")
    if not mask.any():
        return metrics.mean_diameter(mask)
    radii = cKDTree(contour_points(mask)).query(np.argwhere(skeletonize(mask)), workers=1)[0]
    return float(2.0 * radii.mean())


def reference_segmentation_metrics(pred: Mask, gt: Mask) -> dict[str, float]:
    """metrics.segmentation_metrics with hd and the diameters from this module, nothing shared.

    The overlap scores have no other sensible implementation, so they come from benchmark.metrics.
    """
    diameter_pred, diameter_gt = reference_mean_diameter(pred), reference_mean_diameter(gt)
    values = (
        metrics.dice(pred, gt), metrics.cldice(pred, gt), metrics.iou(pred, gt),
        reference_modified_hausdorff(pred, gt), abs(diameter_pred - diameter_gt), diameter_pred, diameter_gt,
    )
    return {key: float(value) for key, value in zip(metrics.METRIC_KEYS, values)}


def vessel_like_pair(size: int = 512, seed: int = 0) -> tuple[Mask, Mask]:
    """A (prediction, ground truth) pair that looks like a vessel-tree segmentation: the ground truth
    is six thick random Bézier curves (radius 2–6 px at 512², scaled with size); the prediction
    jitters every curve and its thickness by a pixel or two, misses one curve and adds a spurious one."""
    rng = np.random.default_rng(seed)
    scale = size / 512
    curves = rng.uniform(0, size - 1, size=(7, 6))
    radii = rng.uniform(2, 6, size=7) * scale
    gt = _thick_curves(curves[:6], radii[:6], size)
    jittered = curves + rng.normal(0, 2 * scale, size=curves.shape)
    thickness = np.clip(radii + rng.normal(0, 0.7 * scale, size=radii.shape), 1, None)
    pred = _thick_curves(np.delete(jittered, 2, axis=0), np.delete(thickness, 2), size)
    return pred, gt


def _thick_curves(curves: NDArray[np.float64], radii: NDArray[np.float64], size: int) -> Mask:
    """Union of quadratic Bézier curves (rows: r0 c0 r1 c1 r2 c2), each `radius` px from its centre line."""
    distance_to_curve = np.full((size, size), np.inf)
    for (r0, c0, r1, c1, r2, c2), radius in zip(curves.round().astype(int), radii):
        centre_line = np.ones((size, size), dtype=bool)
        rows, cols = bezier_curve(r0, c0, r1, c1, r2, c2, weight=1.0, shape=(size, size))
        centre_line[rows, cols] = False
        distance_to_curve = np.minimum(distance_to_curve, ndimage.distance_transform_edt(centre_line) / radius)
    return distance_to_curve <= 1.0


@dataclass(frozen=True)
class MetricTiming:
    """Median wall time of one metric on one image pair, fast implementation against the reference."""

    metric: str
    fast_ms: float
    reference_ms: float


def compare_metric_speed(size: int = 512, repeats: int = 5, seed: int = 0) -> list[MetricTiming]:
    """Time each metric, and all of them together, on one vessel_like_pair.

    dice, iou and cldice have one implementation, timed on both sides; hd and the diameter pair
    behind add are timed against this module's contour versions; "all" is every metric of the
    pair, each side computing its own skeletons and boundaries. Every call involved runs on one
    thread (KD-tree queries use workers=1), so the numbers are per core. Each timing is the median
    of `repeats` runs after one warm-up run.
    """
    pred, gt = vessel_like_pair(size, seed)
    shared = {"dice": metrics.dice, "iou": metrics.iou, "cldice": metrics.cldice}
    pairs: dict[str, tuple[Callable[[], object], Callable[[], object]]] = {
        name: (partial(function, pred, gt),) * 2 for name, function in shared.items()
    }
    pairs.update({
        "hd": (
            lambda: metrics.modified_hausdorff(pred, gt),
            lambda: reference_modified_hausdorff(pred, gt),
        ),
        "add": (
            lambda: metrics.diameter_difference(pred, gt),
            lambda: abs(reference_mean_diameter(pred) - reference_mean_diameter(gt)),
        ),
        "all": (
            lambda: metrics.segmentation_metrics(pred, gt),
            lambda: reference_segmentation_metrics(pred, gt),
        ),
    })
    return [
        MetricTiming(name, _median_ms(fast, repeats), _median_ms(reference, repeats))
        for name, (fast, reference) in pairs.items()
    ]


def _median_ms(call: Callable[[], object], repeats: int) -> float:
    call()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return 1000.0 * float(np.median(times))

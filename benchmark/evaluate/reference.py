"""Plain contour-based HD, HD95, NSD and diameter, computed as the paper describes them, to check and time
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


def reference_boundary_distances(pred: Mask, gt: Mask) -> metrics.BoundaryDistances:
    """Directed distances between the two masks' contours (vertex to nearest vertex, KD-tree); both
    masks non-empty."""
    contour_pred, contour_gt = contour_points(pred), contour_points(gt)
    return metrics.BoundaryDistances(
        pred_to_gt=cKDTree(contour_gt).query(contour_pred, workers=1)[0],
        gt_to_pred=cKDTree(contour_pred).query(contour_gt, workers=1)[0],
    )


@dataclass(frozen=True)
class ReferenceSurface:
    """hd, hd95 and nsd from the contours, in pixels (nsd unitless), from one pair of KD-tree queries."""

    hd: float
    hd95: float
    nsd: float


def reference_surface(pred: Mask, gt: Mask, tolerance: float = metrics.NSD_TOLERANCE_PX) -> ReferenceSurface:
    """The surface metrics of the contours: mean, 95th percentile and share within `tolerance` of the
    directed contour distances. Same empty policies as metrics (a convention, not geometry: shared)."""
    metrics.check_pair(pred, gt)
    if not (pred.any() and gt.any()):
        return ReferenceSurface(metrics.modified_hausdorff(pred, gt), metrics.hausdorff95(pred, gt),
                                metrics.surface_dice(pred, gt, tolerance))
    distances = reference_boundary_distances(pred, gt)
    both = np.concatenate([distances.pred_to_gt, distances.gt_to_pred])
    return ReferenceSurface(
        hd=float(max(distances.pred_to_gt.mean(), distances.gt_to_pred.mean())),
        hd95=float(max(np.percentile(distances.pred_to_gt, metrics.HD_PERCENTILE),
                       np.percentile(distances.gt_to_pred, metrics.HD_PERCENTILE))),
        nsd=float(np.count_nonzero(both <= tolerance) / len(both)),
    )


def reference_modified_hausdorff(pred: Mask, gt: Mask) -> float:
    """Modified Hausdorff distance between the contours, in pixels; same empty policy as
    metrics.modified_hausdorff (both empty → 0, one empty → image diagonal)."""
    metrics.check_pair(pred, gt)
    if not (pred.any() and gt.any()):  # the empty-mask policy is a convention, not geometry: shared
        return metrics.modified_hausdorff(pred, gt)
    distances = reference_boundary_distances(pred, gt)
    return float(max(distances.pred_to_gt.mean(), distances.gt_to_pred.mean()))


def reference_mean_diameter(mask: Mask) -> float:
    """2 × mean distance from skeleton pixels to the nearest contour vertex, in pixels; empty → 0."""
    metrics.check_mask(mask, "mask")
    if not mask.any():
        return metrics.mean_diameter(mask)
    radii = cKDTree(contour_points(mask)).query(np.argwhere(skeletonize(mask)), workers=1)[0]
    return float(2.0 * radii.mean())


def reference_segmentation_metrics(pred: Mask, gt: Mask) -> dict[str, float]:
    """metrics.segmentation_metrics with hd, hd95, nsd and the diameters from this module's contours,
    sharing nothing with the fast path.

    The overlap scores have no other sensible implementation, so they come from benchmark.metrics.
    """
    diameter_pred, diameter_gt = reference_mean_diameter(pred), reference_mean_diameter(gt)
    surface = reference_surface(pred, gt)
    values = {
        "dice": metrics.dice(pred, gt), "cldice": metrics.cldice(pred, gt), "iou": metrics.iou(pred, gt),
        "hd": surface.hd, "hd95": surface.hd95, "nsd": surface.nsd, "add": abs(diameter_pred - diameter_gt),
        "diameter_pred": diameter_pred, "diameter_gt": diameter_gt,
    }
    return {key: float(values[key]) for key in metrics.METRIC_KEYS}


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

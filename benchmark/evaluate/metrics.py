"""Per-image segmentation metrics: the study's Dice, clDice, IoU, modified Hausdorff distance and
diameters, and the field's HD95 and NSD (MONAI / Metrics Reloaded definitions).

Conventions that decide the numbers, stated once for every metric:
- inputs are 2-D bool arrays of one shape; anything else is a caller bug and raises ValueError;
- distances are Euclidean, in pixels, between pixel centres;
- pixels outside the image count as background, so a vessel cut by the image edge has a boundary
  along that edge, and every non-empty mask has a boundary, a skeleton and a diameter;
- the boundary of a mask is its pixels with a 4-neighbour in the background (mask minus its
  erosion by a 3×3 cross);
- empty masks follow an explicit policy, given in each docstring: no metric returns NaN or inf.

Speed: vessel masks span the whole image, so each full-image distance transform costs ~5–10 ms per
512² image on one core and four of them would blow the budget. Distances are needed only at
boundary and skeleton pixels, so they come from exact nearest-pixel searches around those pixels
(benchmark.evaluate.kernels), nearest first, with a KD-tree for the rare far ones. The result equals
the distance transform at those pixels. The two directed boundary distance lists are computed once
per pair and give hd, hd95 and nsd. Skeletons (clDice and both diameters) are computed once per mask,
each on its own mask's bounding box plus a one-pixel margin, which is all the thinning looks at.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from skimage.morphology import skeletonize

from benchmark.evaluate.kernels import BOUNDARY_RADIUS, VESSEL_RADIUS, boundary_points, nearest_distances
from benchmark.evaluate.metric_keys import METRIC_KEYS

Mask = NDArray[np.bool_]

#: NSD's default tolerance τ, in pixels (issue 14; MONAI's class_thresholds, Metrics Reloaded's nsd tau).
NSD_TOLERANCE_PX = 2.0
#: The percentile of HD95 (MONAI `compute_hausdorff_distance(percentile=95)`).
HD_PERCENTILE = 95.0


def dice(pred: Mask, gt: Mask) -> float:
    """Dice = 2|P∩G| / (|P| + |G|), unitless in [0, 1].

    Empty masks: both empty → 1 (nothing to find, nothing found); one empty → 0.
    """
    check_pair(pred, gt)
    n_pred, n_gt = np.count_nonzero(pred), np.count_nonzero(gt)
    if n_pred + n_gt == 0:
        return 1.0
    return float(2.0 * np.count_nonzero(pred & gt) / (n_pred + n_gt))


def iou(pred: Mask, gt: Mask) -> float:
    """IoU = |P∩G| / |P∪G| (Jaccard), unitless in [0, 1].

    Empty masks: both empty → 1; one empty → 0.
    """
    check_pair(pred, gt)
    union = np.count_nonzero(pred | gt)
    if union == 0:
        return 1.0
    return float(np.count_nonzero(pred & gt) / union)


def cldice(pred: Mask, gt: Mask) -> float:
    """Centreline Dice (Shit et al. 2021): harmonic mean of Tprec = |S(P)∩G|/|S(P)| and
    Tsens = |S(G)∩P|/|S(G)|, S = skeleton; unitless in [0, 1].

    Empty masks: both empty → 1; one empty → 0; disjoint masks (Tprec = Tsens = 0) → 0.
    """
    check_pair(pred, gt)
    empty_masks = _count_empty(pred, gt)
    if empty_masks:
        return 1.0 if empty_masks == 2 else 0.0
    framed_pred, framed_gt = _framed_crop(pred, gt)
    return _cldice(framed_pred, framed_gt, skeleton(framed_pred), skeleton(framed_gt))


def modified_hausdorff(pred: Mask, gt: Mask) -> float:
    """Dubuisson–Jain modified Hausdorff distance between the mask boundaries, in pixels: the larger
    of the two mean directed distances (mean over A's boundary pixels of the nearest B boundary pixel;
    boundary = mask pixels with a background 4-neighbour).

    Empty masks: both empty → 0; one empty → the image diagonal sqrt(H² + W²).
    """
    check_pair(pred, gt)
    empty_masks = _count_empty(pred, gt)
    if empty_masks:
        return 0.0 if empty_masks == 2 else image_diagonal(pred.shape)
    return _modified_hausdorff(boundary_distances(*_framed_crop(pred, gt)))


def hausdorff95(pred: Mask, gt: Mask) -> float:
    """HD95 (MONAI `compute_hausdorff_distance(percentile=95)`, Metrics Reloaded "HD95"), in pixels:
    the larger of the two directed 95th percentiles (linear interpolation) of the distances from
    each boundary pixel of one mask to the nearest boundary pixel of the other (boundaries as in hd).

    Empty masks: both empty → 0; one empty → the image diagonal sqrt(H² + W²) (MONAI gives inf/NaN).
    """
    check_pair(pred, gt)
    empty_masks = _count_empty(pred, gt)
    if empty_masks:
        return 0.0 if empty_masks == 2 else image_diagonal(pred.shape)
    return _hausdorff95(boundary_distances(*_framed_crop(pred, gt)))


def surface_dice(pred: Mask, gt: Mask, tolerance: float = NSD_TOLERANCE_PX) -> float:
    """NSD, normalised surface Dice at tolerance τ px (MONAI `compute_surface_dice`, Metrics Reloaded
    "NSD"), unitless in [0, 1]: (#pred boundary pixels within τ of the gt boundary + #gt boundary
    pixels within τ of the pred boundary) / (#pred boundary pixels + #gt boundary pixels); "within" is ≤.

    Empty masks: both empty → 1 (MONAI gives NaN); one empty → 0.
    """
    check_pair(pred, gt)
    empty_masks = _count_empty(pred, gt)
    if empty_masks:
        return 1.0 if empty_masks == 2 else 0.0
    return _surface_dice(boundary_distances(*_framed_crop(pred, gt)), tolerance)


def mean_diameter(mask: Mask) -> float:
    """Mean vessel diameter, in pixels: 2 × mean over skeleton pixels of (distance to the nearest
    background pixel − 0.5). The −0.5 measures to the mask's edge rather than the background pixel's
    centre, which is where a level-0.5 contour runs (the reference in metrics_reference).

    So a band of odd width w measures exactly w. A band of even width w measures w − 1 along its
    straight runs, because a one-pixel skeleton sits half a pixel off the true centre line; the
    skeleton's spurs at the ends of an open bar pull its mean slightly below w. A one-pixel line
    measures 1. Empty mask → 0.
    """
    check_mask(mask, "mask")
    if not mask.any():
        return 0.0
    (framed,) = _framed_crop(mask)
    return _mean_diameter(framed, skeleton(framed))


def diameter_difference(pred: Mask, gt: Mask) -> float:
    """Artery diameter difference ADD = |mean_diameter(pred) − mean_diameter(gt)|, in pixels.

    Empty masks: an empty mask has diameter 0, so both empty → 0 and one empty → the other's diameter.
    """
    check_pair(pred, gt)
    return abs(mean_diameter(pred) - mean_diameter(gt))


def segmentation_metrics(pred: Mask, gt: Mask, tolerance: float = NSD_TOLERANCE_PX) -> dict[str, float]:
    """Every per-image metric of one (prediction, ground truth) pair, keyed by METRIC_KEYS (nsd at
    `tolerance` px).

    Each skeleton and the boundary distances are computed once and shared. Empty masks follow the
    policies of dice, cldice, iou, modified_hausdorff (hd), hausdorff95 (hd95), surface_dice (nsd),
    diameter_difference (add) and mean_diameter.
    """
    check_pair(pred, gt)
    if _count_empty(pred, gt):
        return _row(
            dice(pred, gt), cldice(pred, gt), iou(pred, gt), modified_hausdorff(pred, gt),
            hausdorff95(pred, gt), surface_dice(pred, gt, tolerance), mean_diameter(pred), mean_diameter(gt),
        )
    framed_pred, framed_gt = _framed_crop(pred, gt)
    skeleton_pred, skeleton_gt = skeleton(framed_pred), skeleton(framed_gt)
    distances = boundary_distances(framed_pred, framed_gt)
    return _row(
        dice(framed_pred, framed_gt),
        _cldice(framed_pred, framed_gt, skeleton_pred, skeleton_gt),
        iou(framed_pred, framed_gt),
        _modified_hausdorff(distances),
        _hausdorff95(distances),
        _surface_dice(distances, tolerance),
        _mean_diameter(framed_pred, skeleton_pred),
        _mean_diameter(framed_gt, skeleton_gt),
    )


def skeleton(mask: Mask) -> Mask:
    """scikit-image's thinning (`skeletonize`) of the mask, computed on the mask's bounding box plus
    a one-pixel margin only: equal to thinning the whole image, because background never changes and
    each thinning step decides a pixel from its 3×3 neighbourhood alone (tests/test_metrics.py
    checks the equality). Saves the passes over the empty part of the other mask's box."""
    out = np.zeros_like(mask)
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if not len(rows):
        return out
    top, left = max(rows[0] - 1, 0), max(cols[0] - 1, 0)
    box = (slice(top, rows[-1] + 2), slice(left, cols[-1] + 2))
    out[box] = skeletonize(mask[box])
    return out


def image_diagonal(shape: tuple[int, ...]) -> float:
    """sqrt(H² + W²), in pixels: no two pixels of the image are farther apart, so it is the HD given
    when one mask is empty (the worst score, yet finite, so means and tests stay defined)."""
    height, width = shape
    return float(np.hypot(height, width))


def _row(dice_: float, cldice_: float, iou_: float, hd: float, hd95: float, nsd: float,
         d_pred: float, d_gt: float) -> dict[str, float]:
    """The row in METRIC_KEYS order; add is derived from the two diameters here, once."""
    values = {"dice": dice_, "cldice": cldice_, "iou": iou_, "hd": hd, "hd95": hd95, "nsd": nsd,
              "add": abs(d_pred - d_gt), "diameter_pred": d_pred, "diameter_gt": d_gt}
    return {key: float(values[key]) for key in METRIC_KEYS}


def check_mask(mask: object, name: str) -> None:
    """Masks reach the metrics from our own code, so a wrong one is a bug: ValueError, not BenchmarkError."""
    if not isinstance(mask, np.ndarray) or mask.dtype != np.bool_ or mask.ndim != 2:
        described = f"{mask.dtype} array of shape {mask.shape}" if isinstance(mask, np.ndarray) else type(mask).__name__
        raise ValueError(f"{name} must be a 2-D bool numpy array, got {described}")


def check_pair(pred: object, gt: object) -> None:
    """Both masks valid (see check_mask) and of one shape."""
    check_mask(pred, "pred")
    check_mask(gt, "gt")
    if pred.shape != gt.shape:  # type: ignore[attr-defined]
        raise ValueError(f"pred and gt differ in shape: {pred.shape} vs {gt.shape}")  # type: ignore[attr-defined]


def _count_empty(pred: Mask, gt: Mask) -> int:
    """How many of the two masks are empty: 0 means the metrics are defined, 1 or 2 picks the policy."""
    return int(not pred.any()) + int(not gt.any())


def _framed_crop(*masks: Mask) -> tuple[Mask, ...]:
    """Crop to the bounding box of the masks' union and add a one-pixel background frame.

    The frame makes the outside of the image background; every metric is translation-invariant and
    the thinning is local, so the crop changes no value and only makes small masks cheap. The union
    must be non-empty.
    """
    union = np.logical_or.reduce(masks)
    rows, cols = np.flatnonzero(union.any(axis=1)), np.flatnonzero(union.any(axis=0))
    box = (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))
    return tuple(np.pad(mask[box], 1) for mask in masks)


@dataclass(frozen=True)
class BoundaryDistances:
    """Directed distances, in pixels, from each boundary pixel of one mask to the nearest boundary
    pixel of the other: the one input of hd, hd95 and nsd, computed once per pair."""

    pred_to_gt: NDArray[np.float64]
    gt_to_pred: NDArray[np.float64]


def boundary_distances(framed_pred: Mask, framed_gt: Mask) -> BoundaryDistances:
    """Both directed boundary distance lists of two non-empty masks (framed: see _framed_crop)."""
    boundary_pred, boundary_gt = boundary_points(framed_pred), boundary_points(framed_gt)
    image_pred, image_gt = _as_image(boundary_pred, framed_pred.shape), _as_image(boundary_gt, framed_gt.shape)
    return BoundaryDistances(
        pred_to_gt=nearest_distances(boundary_pred, image_gt, BOUNDARY_RADIUS, boundary_gt),
        gt_to_pred=nearest_distances(boundary_gt, image_pred, BOUNDARY_RADIUS, boundary_pred),
    )


def _modified_hausdorff(distances: BoundaryDistances) -> float:
    return float(max(distances.pred_to_gt.mean(), distances.gt_to_pred.mean()))


def _hausdorff95(distances: BoundaryDistances) -> float:
    return float(max(np.percentile(distances.pred_to_gt, HD_PERCENTILE),
                     np.percentile(distances.gt_to_pred, HD_PERCENTILE)))


def _surface_dice(distances: BoundaryDistances, tolerance: float) -> float:
    within = np.count_nonzero(distances.pred_to_gt <= tolerance) + np.count_nonzero(distances.gt_to_pred <= tolerance)
    return float(within / (len(distances.pred_to_gt) + len(distances.gt_to_pred)))


def _as_image(points: NDArray[np.int64], shape: tuple[int, ...]) -> Mask:
    """The points as a bool image: what the ring search looks its targets up in."""
    image = np.zeros(shape, dtype=bool)
    image[points[:, 0], points[:, 1]] = True
    return image


def _mean_diameter(framed: Mask, skeleton: Mask) -> float:
    """Thinning keeps at least one pixel of every connected component, so the skeleton of a
    non-empty mask is non-empty and the mean is defined; the frame gives it a background pixel."""
    radii = nearest_distances(np.argwhere(skeleton), ~framed, VESSEL_RADIUS) - 0.5
    return float(2.0 * radii.mean())


def _cldice(framed_pred: Mask, framed_gt: Mask, skeleton_pred: Mask, skeleton_gt: Mask) -> float:
    topology_precision = np.count_nonzero(skeleton_pred & framed_gt) / np.count_nonzero(skeleton_pred)
    topology_sensitivity = np.count_nonzero(skeleton_gt & framed_pred) / np.count_nonzero(skeleton_gt)
    if topology_precision + topology_sensitivity == 0:
        return 0.0
    return float(2.0 * topology_precision * topology_sensitivity / (topology_precision + topology_sensitivity))

"""Metrics against hand-worked answers, against their own definitions, and against the contour reference."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import ndimage
from skimage.morphology import skeletonize

from benchmark.evaluate.metrics import (
    METRIC_KEYS,
    cldice,
    diameter_difference,
    dice,
    hausdorff95,
    iou,
    mean_diameter,
    modified_hausdorff,
    segmentation_metrics,
    skeleton,
    surface_dice,
)
from benchmark.evaluate.reference import (
    compare_metric_speed,
    reference_mean_diameter,
    reference_segmentation_metrics,
    vessel_like_pair,
)


def canvas(height: int = 64, width: int = 64) -> np.ndarray:
    return np.zeros((height, width), dtype=bool)


def band(width: int, shape: tuple[int, int] = (60, 80), margin: int = 5) -> np.ndarray:
    """A closed rectangular band (a picture frame) `width` px wide: a bar with no ends, so its
    skeleton has no end spurs and every skeleton pixel sits on a straight run or a corner."""
    mask = canvas(*shape)
    mask[margin:-margin, margin:-margin] = True
    mask[margin + width:-margin - width, margin + width:-margin - width] = False
    return mask


def random_blobs(seed: int, size: int = 64, sigma: float = 3.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return ndimage.gaussian_filter(rng.normal(size=(size, size)), sigma) > 0.05


def test_identical_masks_score_perfectly() -> None:
    _, gt = vessel_like_pair(96, seed=1)
    row = segmentation_metrics(gt, gt.copy())
    assert (row["dice"], row["iou"], row["cldice"]) == (1.0, 1.0, 1.0)
    assert (row["hd"], row["hd95"], row["nsd"], row["add"]) == (0.0, 0.0, 1.0, 0.0)
    assert row["diameter_pred"] == row["diameter_gt"] > 0


def test_rectangles_overlapping_by_half_have_dice_half_and_iou_third() -> None:
    pred, gt = canvas(), canvas()
    pred[0:10, 0:10] = True  # 100 px
    gt[5:15, 0:10] = True  # 100 px, 50 of them shared
    assert dice(pred, gt) == pytest.approx(2 * 50 / 200)
    assert iou(pred, gt) == pytest.approx(50 / 150)


@pytest.mark.parametrize("shift", [1, 3, 5])
def test_thin_line_shifted_vertically_has_hd_equal_to_shift(shift: int) -> None:
    # Every pixel of a 1-px line is a boundary pixel and its nearest pixel on the shifted line is
    # straight below it, `shift` away; nothing of the other line is closer. Both means are `shift`.
    pred = canvas()
    pred[10, 5:50] = True
    gt = np.roll(pred, shift, axis=0)
    assert modified_hausdorff(pred, gt) == pytest.approx(shift, abs=1e-12)


def test_rectangle_shifted_down_by_two_has_hand_computed_mhd() -> None:
    # A = rows 5-14, cols 10-29 (10×20); B = A two rows lower. A's 56 boundary pixels, nearest B
    # boundary pixel:
    #   top row (20 px): B's top row, 2 below                               -> 20 × 2 = 40
    #   bottom row (20 px): the two end pixels lie on B's side columns (0), their neighbours are
    #     1 from them, the other 16 are 2 above B's bottom row (B's top row is 7 up) -> 2 + 16×2 = 34
    #   side columns, rows 6-13 (2 × 8 px): row 6 is 1 from B's top corner, rows 7-13 lie on
    #     B's side columns                                                    -> 2 × 1 = 2
    # mean = 76 / 56 = 19/14, and B -> A is the mirror image, so the MHD is 19/14 (not 2).
    pred, gt = canvas(30, 40), canvas(30, 40)
    pred[5:15, 10:30] = True
    gt[7:17, 10:30] = True
    assert modified_hausdorff(pred, gt) == pytest.approx(19 / 14, abs=1e-12)


def test_shifted_disc_has_mhd_below_the_shift_near_two_shift_over_pi() -> None:
    # Each boundary pixel's translate lies on the other boundary, so MHD <= shift exactly. For
    # continuous circles of radius R >> k, a point at angle t is |k cos t| from the shifted circle,
    # whose mean is 2k/pi: the *modified* HD of a shifted disc is ~0.64 k, not k (that is the
    # classical HD).
    rows, cols = np.mgrid[:128, :128]
    shift = 6
    disc = (rows - 64) ** 2 + (cols - 60) ** 2 <= 30**2
    hd = modified_hausdorff(disc, np.roll(disc, shift, axis=1))
    assert hd <= shift
    assert hd == pytest.approx(2 * shift / math.pi, rel=0.1)


@pytest.mark.parametrize("shift", [1, 2, 3, 5])
def test_one_pixel_line_shifted_has_hd95_equal_to_shift_and_nsd_one_within_tolerance(shift: int) -> None:
    # Every boundary pixel of either line is exactly `shift` from the other line (straight across),
    # so every directed distance is `shift`: HD95 = shift; NSD (τ = 2) = 1 if shift <= 2, else 0.
    pred = canvas()
    pred[10, 5:50] = True
    gt = np.roll(pred, shift, axis=0)
    assert hausdorff95(pred, gt) == pytest.approx(shift, abs=1e-12)
    assert surface_dice(pred, gt) == (1.0 if shift <= 2 else 0.0)
    assert surface_dice(pred, gt, tolerance=shift - 0.5) == 0.0


def test_rectangle_shifted_down_by_two_has_hand_computed_hd95_and_nsd() -> None:
    # The 10×20 rectangle and its copy two rows lower (see the MHD test above): of A's 56 boundary
    # distances 16 are 0 (14 on the side columns, the 2 bottom corners), 4 are 1 (the bottom row's
    # corner neighbours and the side columns' top pixels), 36 are 2; B -> A mirrors it.
    # HD95: the 95th percentile of a list that is 2 from its 21st value on = 2 (MHD is 19/14).
    # NSD: τ = 2 keeps all 112 -> 1; τ = 1 keeps 2 × 20 -> 40/112 = 5/14; τ = 0.5 keeps 2 × 16 -> 2/7.
    pred, gt = canvas(30, 40), canvas(30, 40)
    pred[5:15, 10:30] = True
    gt[7:17, 10:30] = True
    assert hausdorff95(pred, gt) == pytest.approx(2.0, abs=1e-12)
    assert surface_dice(pred, gt) == 1.0
    assert surface_dice(pred, gt, tolerance=1.0) == pytest.approx(5 / 14, abs=1e-12)
    assert surface_dice(pred, gt, tolerance=0.5) == pytest.approx(2 / 7, abs=1e-12)


def test_shifted_disc_has_hd95_near_the_shift_and_nsd_by_tolerance() -> None:
    # Each boundary pixel's translate lies on the other boundary, so no distance exceeds the shift
    # k. For continuous circles (R >> k) a point at angle t is |k cos t| from the other circle;
    # |cos t| exceeds 0.997 on 5 % of the circle, so the 95th percentile is ~k, unlike the MHD's
    # 2k/π. NSD: the points within τ are those with |k cos t| <= τ, a share 1 - (2/π)·arccos(τ/k) of
    # a continuous circle (0.22 at τ = 2, k = 6); the pixel boundary has more points per length along
    # the axes, near t = ±π/2 where those points are, so a little more here.
    rows, cols = np.mgrid[:128, :128]
    shift = 6
    disc = (rows - 64) ** 2 + (cols - 60) ** 2 <= 30**2
    moved = np.roll(disc, shift, axis=1)
    assert shift - 0.5 <= hausdorff95(disc, moved) <= shift
    assert surface_dice(disc, moved, tolerance=shift) == 1.0
    continuous = 1 - 2 / math.pi * math.acos(2 / shift)
    assert continuous < surface_dice(disc, moved) < continuous + 0.1
    assert surface_dice(disc, moved, tolerance=1) < surface_dice(disc, moved) < surface_dice(disc, moved, tolerance=4)


def test_skeleton_on_the_mask_box_equals_skeletonizing_the_whole_image() -> None:
    rng = np.random.default_rng(5)
    masks = [random_blobs(seed, size=80) for seed in range(6)]  # several touch the image edge
    masks += [rng.random((40, 50)) < 0.6, np.ones((9, 9), dtype=bool), canvas(10, 10), band(3)]
    masks += list(vessel_like_pair(256, seed=2))
    for mask in masks:
        assert np.array_equal(skeleton(mask), skeletonize(mask))


def test_metrics_equal_their_definitions_with_whole_image_skeletons() -> None:
    # clDice and both diameters as defined, with skeletons of the whole image, no crop or sharing.
    pred, gt = vessel_like_pair(192, seed=3)
    s_pred, s_gt = skeletonize(pred), skeletonize(gt)
    t_prec, t_sens = (s_pred & gt).sum() / s_pred.sum(), (s_gt & pred).sum() / s_gt.sum()
    padded_pred, padded_gt = np.pad(pred, 1), np.pad(gt, 1)
    d_pred = 2 * (ndimage.distance_transform_edt(padded_pred)[np.pad(s_pred, 1)] - 0.5).mean()
    d_gt = 2 * (ndimage.distance_transform_edt(padded_gt)[np.pad(s_gt, 1)] - 0.5).mean()
    row = segmentation_metrics(pred, gt)
    assert row["cldice"] == pytest.approx(2 * t_prec * t_sens / (t_prec + t_sens), abs=1e-12)
    assert (row["diameter_pred"], row["diameter_gt"]) == pytest.approx((d_pred, d_gt), abs=1e-12)


@pytest.mark.parametrize("width", [1, 3, 5, 7])
def test_band_of_odd_width_has_mean_diameter_equal_to_width(width: int) -> None:
    # The skeleton runs along the middle of the band, (width + 1) / 2 px from the nearest background
    # pixel centre, i.e. width / 2 from the band's edge: diameter 2 × width / 2 = width. The contour
    # reference, whose level-0.5 contour runs along that edge, gives the same.
    assert mean_diameter(band(width)) == pytest.approx(width, abs=1e-12)
    assert reference_mean_diameter(band(width)) == pytest.approx(width, abs=1e-12)


@pytest.mark.parametrize("width", [2, 4, 6])
def test_band_of_even_width_measures_one_pixel_less(width: int) -> None:
    # A one-pixel skeleton of an even band sits half a pixel off the centre line, width/2 - 1/2
    # from the near edge, so the straight runs measure width - 1; only the four corners add a little.
    assert width - 1 <= mean_diameter(band(width)) < width - 1 + 0.1


def test_add_of_bands_three_and_five_wide_is_two() -> None:
    row = segmentation_metrics(band(3), band(5))
    assert (row["diameter_pred"], row["diameter_gt"]) == pytest.approx((3.0, 5.0), abs=1e-12)
    assert row["add"] == pytest.approx(2.0, abs=1e-12)
    assert diameter_difference(band(3), band(5)) == pytest.approx(2.0, abs=1e-12)


def test_line_with_gap_has_hand_computed_cldice() -> None:
    # gt: a 1-px line of 20 px (its own skeleton); pred: the same line with 4 px missing.
    # Tprec = |S(pred) ∩ gt| / |S(pred)| = 16/16 = 1; Tsens = |S(gt) ∩ pred| / |S(gt)| = 16/20.
    # clDice = 2 × 1 × 0.8 / 1.8 = 8/9.
    gt = canvas()
    gt[10, 5:25] = True
    pred = gt.copy()
    pred[10, 13:17] = False
    assert cldice(pred, gt) == pytest.approx(8 / 9, abs=1e-12)


def test_thick_band_around_thin_loop_has_cldice_one_but_dice_half() -> None:
    # gt: a 1-px rectangular loop, rows 10-40 × cols 10-50: 2×31 + 2×41 - 4 = 140 px.
    # pred: the 3-px band centred on it: 33×43 - 27×37 = 420 px, containing gt.
    # pred's skeleton runs on the loop and gt lies inside pred, so Tprec = Tsens = 1, while
    # Dice = 2×140 / (140 + 420) = 1/2: clDice ignores thickness, Dice does not.
    gt, pred = canvas(), canvas()
    gt[10:41, 10:51] = True
    gt[11:40, 11:50] = False
    pred[9:42, 9:52] = True
    pred[12:39, 12:49] = False
    assert cldice(pred, gt) == pytest.approx(1.0, abs=1e-12)
    assert dice(pred, gt) == pytest.approx(0.5, abs=1e-12)


def test_disjoint_masks_have_zero_cldice() -> None:
    pred, gt = canvas(), canvas()
    pred[5:10, 5:40] = True
    gt[30:35, 5:40] = True
    assert cldice(pred, gt) == 0.0


def test_both_masks_empty_score_as_perfect_agreement() -> None:
    empty = canvas(30, 40)
    row = segmentation_metrics(empty, empty)
    assert row == {"dice": 1.0, "cldice": 1.0, "iou": 1.0, "hd": 0.0, "hd95": 0.0, "nsd": 1.0, "add": 0.0,
                   "diameter_pred": 0.0, "diameter_gt": 0.0}
    assert (dice(empty, empty), cldice(empty, empty), iou(empty, empty), surface_dice(empty, empty)) == (1.0,) * 4
    assert modified_hausdorff(empty, empty) == hausdorff95(empty, empty) == 0.0


@pytest.mark.parametrize("empty_side", ["pred", "gt"])
def test_one_empty_mask_scores_zero_overlap_and_the_image_diagonal(empty_side: str) -> None:
    vessel = band(3, shape=(60, 80))
    empty = canvas(60, 80)
    pred, gt = (empty, vessel) if empty_side == "pred" else (vessel, empty)
    row = segmentation_metrics(pred, gt)
    assert (row["dice"], row["cldice"], row["iou"]) == (0.0, 0.0, 0.0)
    assert row["hd"] == modified_hausdorff(pred, gt) == 100.0  # sqrt(60² + 80²)
    assert row["hd95"] == hausdorff95(pred, gt) == 100.0
    assert row["nsd"] == surface_dice(pred, gt) == 0.0
    assert row[f"diameter_{empty_side}"] == 0.0
    assert row["add"] == pytest.approx(3.0, abs=1e-12)  # the other mask's diameter


def test_no_metric_is_ever_nan_or_inf() -> None:
    rng = np.random.default_rng(0)
    single_pixel = canvas(16, 16)
    single_pixel[7, 7] = True
    masks = [
        canvas(16, 16), single_pixel, np.ones((16, 16), dtype=bool), band(1, (16, 16), 2),
        *(rng.random((16, 16)) < density for density in (0.02, 0.3, 0.7, 0.98)),
    ]
    for pred in masks:
        for gt in masks:
            row = segmentation_metrics(pred, gt)
            assert list(row) == list(METRIC_KEYS)
            assert all(math.isfinite(value) and value >= 0 for value in row.values()), row
            assert all(row[key] <= 1 for key in ("dice", "cldice", "iou", "nsd")), row


def test_metrics_of_one_pair_equal_the_separate_functions() -> None:
    pred, gt = random_blobs(1), random_blobs(2)
    row = segmentation_metrics(pred, gt)
    assert row == {
        "dice": dice(pred, gt), "cldice": cldice(pred, gt), "iou": iou(pred, gt),
        "hd": modified_hausdorff(pred, gt), "hd95": hausdorff95(pred, gt), "nsd": surface_dice(pred, gt),
        "add": diameter_difference(pred, gt),
        "diameter_pred": mean_diameter(pred), "diameter_gt": mean_diameter(gt),
    }


@pytest.mark.parametrize("seed", range(5))
def test_fast_distances_equal_the_distance_transform_definition(seed: int) -> None:
    # The definition, computed the slow obvious way on the whole (padded) image.
    pred, gt = random_blobs(2 * seed), random_blobs(2 * seed + 1)
    padded_pred, padded_gt = np.pad(pred, 1), np.pad(gt, 1)
    boundary_pred = padded_pred & ~ndimage.binary_erosion(padded_pred)
    boundary_gt = padded_gt & ~ndimage.binary_erosion(padded_gt)
    expected_hd = max(
        ndimage.distance_transform_edt(~boundary_gt)[boundary_pred].mean(),
        ndimage.distance_transform_edt(~boundary_pred)[boundary_gt].mean(),
    )
    pred_to_gt = ndimage.distance_transform_edt(~boundary_gt)[boundary_pred]
    gt_to_pred = ndimage.distance_transform_edt(~boundary_pred)[boundary_gt]
    # MONAI's compute_hausdorff_distance(percentile=95) and compute_surface_dice, written out.
    expected_hd95 = max(np.percentile(pred_to_gt, 95), np.percentile(gt_to_pred, 95))
    expected_nsd = ((pred_to_gt <= 2).sum() + (gt_to_pred <= 2).sum()) / (len(pred_to_gt) + len(gt_to_pred))
    radii = ndimage.distance_transform_edt(padded_pred)[skeletonize(padded_pred)] - 0.5
    assert modified_hausdorff(pred, gt) == pytest.approx(expected_hd, abs=1e-12)
    assert hausdorff95(pred, gt) == pytest.approx(expected_hd95, abs=1e-12)
    assert surface_dice(pred, gt) == pytest.approx(expected_nsd, abs=1e-12)
    assert mean_diameter(pred) == pytest.approx(2 * radii.mean(), abs=1e-12)


def test_mask_cut_by_image_edge_measures_as_if_surrounded_by_background() -> None:
    # Outside the image is background: moving the pair into a larger empty canvas changes nothing.
    pred, gt = random_blobs(3, size=40), random_blobs(4, size=40)
    assert pred[0].any() or pred[:, 0].any()  # the pair really touches the image edge
    framed = [np.pad(mask, ((7, 3), (2, 9))) for mask in (pred, gt)]
    assert segmentation_metrics(*framed) == pytest.approx(segmentation_metrics(pred, gt), abs=1e-12)


@pytest.mark.parametrize(
    "pair",
    [*((random_blobs(10 + seed, size=96), random_blobs(20 + seed, size=96)) for seed in range(3)),
     *(vessel_like_pair(128, seed) for seed in range(3))],
)
def test_fast_metrics_agree_with_contour_reference(pair: tuple[np.ndarray, np.ndarray]) -> None:
    # The reference measures to sub-pixel contour vertices, the fast metrics to pixel centres /
    # pixel edges: equal on axis-aligned edges, a fraction of a pixel apart on slanted ones.
    fast, reference = segmentation_metrics(*pair), reference_segmentation_metrics(*pair)
    assert fast["hd"] == pytest.approx(reference["hd"], abs=0.5)
    # HD95 sits on the steep tail of the distances, NSD counts points near τ: looser (see METRIC_TOLERANCE).
    assert fast["hd95"] == pytest.approx(reference["hd95"], abs=3.0)
    assert fast["nsd"] == pytest.approx(reference["nsd"], abs=0.05)
    for key in ("diameter_pred", "diameter_gt", "add"):
        assert fast[key] == pytest.approx(reference[key], abs=0.3)
    for key in ("dice", "cldice", "iou"):
        assert fast[key] == reference[key]


@pytest.mark.parametrize(
    "pred, gt",
    [
        (canvas(8, 8), canvas(8, 9)),
        (canvas().astype(np.uint8), canvas()),
        (canvas(), canvas().astype(float)),
        (np.zeros((2, 8, 8), dtype=bool), np.zeros((2, 8, 8), dtype=bool)),
    ],
    ids=["shape-mismatch", "uint8-pred", "float-gt", "3-d"],
)
def test_malformed_input_is_a_value_error(pred: np.ndarray, gt: np.ndarray) -> None:
    for metric in (dice, iou, cldice, modified_hausdorff, hausdorff95, surface_dice, diameter_difference,
                   segmentation_metrics):
        with pytest.raises(ValueError):
            metric(pred, gt)


def test_mean_diameter_rejects_a_non_bool_mask() -> None:
    with pytest.raises(ValueError, match="bool"):
        mean_diameter(band(3).astype(np.uint8))


def test_vessel_like_pair_is_reproducible_and_partly_overlapping() -> None:
    pred, gt = vessel_like_pair(128, seed=4)
    again_pred, again_gt = vessel_like_pair(128, seed=4)
    assert np.array_equal(pred, again_pred) and np.array_equal(gt, again_gt)
    assert 0.01 < gt.mean() < 0.3
    assert 0.3 < dice(pred, gt) < 0.95


def test_speed_comparison_times_every_metric_and_all_together() -> None:
    timings = compare_metric_speed(size=48, repeats=1)
    assert [timing.metric for timing in timings] == ["dice", "iou", "cldice", "hd", "add", "all"]
    assert all(math.isfinite(t.fast_ms) and math.isfinite(t.reference_ms) for t in timings)

"""The compiled metric kernels against hand-worked answers and against a KD-tree."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import ndimage
from scipy.spatial import cKDTree
from skimage.morphology import skeletonize

from benchmark.evaluate.kernels import boundary_points, nearest_distances, ring_offsets
from benchmark.evaluate.metrics import mean_diameter, modified_hausdorff


def test_ring_offsets_visit_the_centre_then_each_ring_nearest_first() -> None:
    rows, cols, distances = ring_offsets(2)
    assert len(rows) == 13  # the centre, four at 1, four at √2, four at 2
    assert (rows[0], cols[0], distances[0]) == (0, 0, 0.0)
    assert sorted(zip(rows[1:5].tolist(), cols[1:5].tolist())) == [(-1, 0), (0, -1), (0, 1), (1, 0)]
    assert np.all(np.diff(distances) >= 0)
    assert distances[5:9] == pytest.approx([math.sqrt(2)] * 4)
    assert np.allclose(distances, np.hypot(rows, cols))


def test_boundary_of_a_square_is_its_outline_and_the_image_edge_counts_as_background() -> None:
    mask = np.zeros((6, 6), dtype=bool)
    mask[1:4, 1:4] = True  # 3×3 square: all but its centre lie on the boundary
    points = boundary_points(mask)
    assert len(points) == 8 and [2, 2] not in points.tolist()
    full = np.ones((3, 4), dtype=bool)  # touches every edge: only its two inner pixels are interior
    assert sorted(map(tuple, boundary_points(full).tolist())) == sorted(
        (r, c) for r in range(3) for c in range(4) if (r, c) not in ((1, 1), (1, 2)))


@pytest.mark.parametrize("radius", [0, 3, 10])
def test_nearest_distances_equal_a_kd_tree_whether_the_rings_or_the_fallback_answer(radius: int) -> None:
    rng = np.random.default_rng(radius)
    targets = rng.random((80, 90)) < 0.004  # sparse: many points have no target within 10 px
    points = np.argwhere(rng.random((80, 90)) < 0.05)
    expected = cKDTree(np.argwhere(targets)).query(points)[0]
    assert expected.max() > 10  # the KD-tree fallback is exercised at every radius
    assert np.allclose(nearest_distances(points, targets, radius), expected, rtol=0, atol=1e-12)
    given = np.argwhere(targets)
    assert np.allclose(nearest_distances(points, targets, radius, given), expected, rtol=0, atol=1e-12)


def test_nearest_distances_need_a_target() -> None:
    with pytest.raises(ValueError, match="no set pixel"):
        nearest_distances(np.array([[0, 0]]), np.zeros((4, 4), dtype=bool), 3)


def test_hausdorff_between_far_apart_squares_is_their_hand_computed_distance() -> None:
    # Two 2×2 squares on one pair of rows, columns 5–6 and 45–46, far beyond the ring search: each
    # square's inner column is 39 px and its outer column 40 px from the other square, both ways.
    pred, gt = np.zeros((10, 60), dtype=bool), np.zeros((10, 60), dtype=bool)
    pred[4:6, 5:7] = True
    gt[4:6, 45:47] = True
    assert modified_hausdorff(pred, gt) == pytest.approx(39.5, abs=1e-12)


def test_diameter_of_a_disc_wider_than_the_ring_search_uses_the_exact_distance() -> None:
    # A disc of radius 30: its skeleton is near its centre, ~30 px from the background, so every
    # distance comes from the fallback; it must equal the distance transform there.
    yy, xx = np.mgrid[:81, :81]
    disc = (yy - 40) ** 2 + (xx - 40) ** 2 <= 30**2
    framed = np.pad(disc, 1)
    expected = 2 * (ndimage.distance_transform_edt(framed)[skeletonize(framed)] - 0.5).mean()
    assert mean_diameter(disc) == pytest.approx(expected, abs=1e-12)
    assert mean_diameter(disc) > 50

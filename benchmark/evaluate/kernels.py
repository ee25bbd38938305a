"""Compiled inner loops of the distance metrics: boundary pixels and nearest-pixel search by rings.

Why compiled: the metrics of a 512² pair need four nearest-pixel searches (two for the Hausdorff
distance, one per diameter). KD-trees answer each query in ~0.3 µs plus a build per target set,
and whole-image numpy passes cost ~0.1 ms each; together they were two thirds of a pair's time.
Here a query point looks at the pixels around it, nearest first, and stops at the first target,
which for a fair prediction is a pixel or two away. numba compiles each kernel once per machine
(`cache=True` keeps the machine code beside this file), so a worker process loads it in
milliseconds.

The distances are exact, not approximate: tests/test_metric_kernels.py checks them against a
KD-tree, tests/test_metrics.py against the Euclidean distance transform.
"""

from __future__ import annotations

from functools import cache

import numba
import numpy as np
from numpy.typing import NDArray
from scipy.spatial import cKDTree

#: How far the ring search of the Hausdorff distance looks before a KD-tree takes the rest: the
#: boundaries of a fair prediction lie within a few pixels of the ground truth's.
BOUNDARY_RADIUS = 10
#: How far the diameter's search for background looks: the radius of the widest vessel expected
#: (the KD-tree takes any point deeper inside a mask).
VESSEL_RADIUS = 24


@cache
def ring_offsets(radius: int) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64]]:
    """Row and column offsets of every pixel within `radius` of the origin, nearest first, and their
    distances: the order in which a search visits a query point's surroundings. Cached, read-only."""
    span = np.arange(-radius, radius + 1)
    rows, cols = (grid.ravel() for grid in np.meshgrid(span, span, indexing="ij"))
    squared = rows**2 + cols**2
    order = np.argsort(squared, kind="stable")
    order = order[squared[order] <= radius**2]
    offsets = rows[order], cols[order], np.sqrt(squared[order].astype(np.float64))
    for array in offsets:
        array.flags.writeable = False
    return offsets


@numba.njit(cache=True, nogil=True)
def _ring_search(points: NDArray, targets: NDArray[np.uint8], rows: NDArray, cols: NDArray,
                 distances: NDArray[np.float64], out: NDArray[np.float64]) -> None:
    """Distance from each point to the first target pixel met on its rings, NaN if none within them.
    Offsets come nearest first, so the first target met is a nearest one."""
    height, width = targets.shape
    for i in range(points.shape[0]):
        row, col = points[i, 0], points[i, 1]
        out[i] = np.nan
        for k in range(rows.shape[0]):
            r, c = row + rows[k], col + cols[k]
            if 0 <= r < height and 0 <= c < width and targets[r, c]:
                out[i] = distances[k]
                break


def nearest_distances(points: NDArray[np.intp], targets: NDArray[np.bool_], radius: int,
                      target_points: NDArray[np.intp] | None = None) -> NDArray[np.float64]:
    """Exact Euclidean distance, in pixels, from each point (N×2 row, col) to the nearest set pixel
    of `targets`, which must have one.

    Rings out to `radius` first; the points they leave go to a KD-tree over `target_points`, or, if
    not given, over the target pixels with an unset 4-neighbour (or on the image's edge): the only
    ones that can be nearest to a point outside the targets, since for a target q nearest to p the
    4-neighbour of q one step towards p is closer to p, so it is not a target.
    """
    if not targets.any():
        raise ValueError("nearest_distances: targets has no set pixel")
    out = np.empty(len(points), dtype=np.float64)
    _ring_search(points, targets.view(np.uint8), *ring_offsets(radius), out)
    unresolved = np.isnan(out)
    if unresolved.any():
        candidates = boundary_points(targets) if target_points is None else target_points
        tree = cKDTree(candidates, balanced_tree=False, compact_nodes=False)
        out[unresolved] = tree.query(points[unresolved], workers=1)[0]
    return out


@numba.njit(cache=True, nogil=True)
def _boundary_points(mask: NDArray[np.uint8]) -> NDArray[np.int64]:
    height, width = mask.shape
    found = np.empty((int(mask.sum()), 2), dtype=np.int64)
    count = 0
    for r in range(height):
        for c in range(width):
            if mask[r, c] and (r == 0 or c == 0 or r == height - 1 or c == width - 1
                               or not (mask[r - 1, c] and mask[r + 1, c] and mask[r, c - 1] and mask[r, c + 1])):
                found[count, 0] = r
                found[count, 1] = c
                count += 1
    return found[:count]


def boundary_points(mask: NDArray[np.bool_]) -> NDArray[np.int64]:
    """The mask's pixels with a 4-neighbour in the background, as N×2 (row, col) in row-major
    order; pixels outside the image are background."""
    return _boundary_points(mask.view(np.uint8))

"""Procedural X-ray angiograms with exact vessel masks: the benchmark's built-in default dataset.

The pipeline runs anywhere without real data, so the stand-in has to carry the difficulties that
matter for segmentation: thin tapering vessels that are darker than the background (iodine
attenuates in proportion to the path length through the lumen, hence a soft profile), distractors
that are not vessels (catheter, ribs, spine, heart and diaphragm shadows), dark collimator
corners, blur and quantum noise. Everything is built in an attenuation (log) domain and turned
into detector counts at the end, as an X-ray image is formed.

Lengths are given for a 512-px image ("..._512" knobs) and scaled with the requested size, so a
256-px image looks like a downsampled 512-px one.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage, signal

from benchmark.data.dataset import LabelledDataset, LabelledItem
from benchmark.core.errors import BenchmarkError

# Bump whenever a change to this file changes the pixels generated for a given seed.
GENERATOR_VERSION = 2

MIN_SIZE = 32
_REFERENCE_SIZE = 512.0
_MIN_RADIUS_PX = 0.5  # below this a vessel would have no pixel in its mask


@dataclass(frozen=True)
class GeneratorKnobs:
    """Ranges the generator draws from; (lo, hi) pairs are uniform ranges."""

    n_arteries: tuple[int, int] = (2, 3)
    root_radius_512: tuple[float, float] = (4.5, 7.0)
    min_radius_512: float = 1.0
    artery_length: tuple[float, float] = (0.55, 0.95)  # fraction of the image size
    end_taper: tuple[float, float] = (0.3, 0.5)  # end radius / root radius, before forks and the tip
    max_depth: int = 2
    branch_spacing_512: tuple[float, float] = (40.0, 75.0)  # arc length between side branches
    child_radius_ratio: tuple[float, float] = (0.45, 0.85)
    child_length_ratio: tuple[float, float] = (0.25, 0.55)
    branch_angle_deg: tuple[float, float] = (35.0, 80.0)
    curvature_memory_512: float = 60.0  # correlation length of the curvature, in px
    curvature_std_512: float = 0.006  # rad/px
    step_512: float = 2.0  # path sampling step
    vessel_mu_512: tuple[float, float] = (0.06, 0.1)  # attenuation per px of iodine path
    catheter_radius_512: tuple[float, float] = (2.5, 3.5)
    catheter_mu_512: tuple[float, float] = (0.1, 0.16)
    blur_sigma_512: float = 1.0
    photons: tuple[float, float] = (500.0, 1500.0)  # mean detector counts per open background pixel
    read_noise: tuple[float, float] = (1.0, 3.0)  # grey levels
    background_grey: tuple[float, float] = (95.0, 125.0)  # mean grey level inside the shutter
    sharpen: tuple[float, float] = (0.3, 0.9)  # unsharp-mask amount, as clinical systems apply
    sharpen_sigma_512: float = 4.0


@dataclass(frozen=True)
class SyntheticConfig:
    """A synthetic dataset: how many images, their size, the master seed, the generator's knobs."""

    n: int = 200
    size: int = 256
    seed: int = 0
    knobs: GeneratorKnobs = field(default_factory=GeneratorKnobs)


@dataclass(frozen=True)
class Branch:
    """One vessel segment of the tree: centreline (K×2, x then y, px) and radius (K, px) along it."""

    points: np.ndarray
    radii: np.ndarray
    depth: int


@dataclass(frozen=True)
class Angiogram:
    """A generated image with the layers behind it, so tests can check the image against its cause."""

    image: np.ndarray  # uint8 H×W
    mask: np.ndarray  # bool H×W: vessel tree inside the open shutter
    catheter: np.ndarray  # bool H×W
    shutter_open: np.ndarray  # bool H×W
    branches: tuple[Branch, ...]


def _uniform(rng: np.random.Generator, bounds: tuple[float, float]) -> float:
    return float(rng.uniform(bounds[0], bounds[1]))


# ---------------------------------------------------------------- vessel tree


def _smooth_path(
    start: np.ndarray, heading: float, length: float, bend: float, tortuosity: float,
    rng: np.random.Generator, knobs: GeneratorKnobs, scale: float,
) -> np.ndarray:
    """Centreline whose curvature is a smoothed random walk (AR(1)) around a constant bend.

    `tortuosity` > 1 makes the curvature both stronger and shorter-lived, as in small branches.
    """
    step = knobs.step_512 * scale
    n = max(2, int(length / step) + 1)
    rho = float(np.exp(-knobs.step_512 * tortuosity / knobs.curvature_memory_512))
    innovation = tortuosity * knobs.curvature_std_512 / scale * np.sqrt(1.0 - rho**2)
    curvature = signal.lfilter([1.0], [1.0, -rho], rng.normal(0.0, innovation, n - 1)) + bend
    headings = heading + np.concatenate([[0.0], np.cumsum(curvature * step)])[:-1]
    offsets = np.cumsum(np.stack([np.cos(headings), np.sin(headings)], axis=1) * step, axis=0)
    return np.vstack([start, start + offsets])


def _inside_prefix(points: np.ndarray, size: int) -> int:
    """How many leading points stay within the image (plus a small margin)."""
    margin = 0.02 * size
    inside = np.all((points > -margin) & (points < size - 1 + margin), axis=1)
    return len(points) if inside.all() else int(np.argmin(inside))


def _grow(
    start: np.ndarray, heading: float, radius: float, length: float, depth: int,
    rng: np.random.Generator, knobs: GeneratorKnobs, size: int, out: list[Branch],
) -> None:
    """Grow one branch and, recursively, its side branches; radii taper and drop at each fork."""
    scale = size / _REFERENCE_SIZE
    bend = float(rng.normal(0.0, 1.2 / size))
    points = _smooth_path(start, heading, length, bend, 1.0 + depth, rng, knobs, scale)
    points = points[: _inside_prefix(points, size)]
    if len(points) < 3:
        return
    k = len(points)
    min_radius = max(knobs.min_radius_512 * scale, _MIN_RADIUS_PX)
    # Taper over the intended length, so a branch cut off by the image edge leaves it still wide,
    # and narrow the last quarter down to the minimum so tips fade instead of ending bluntly.
    arc = np.minimum(np.arange(k) * knobs.step_512 * scale / length, 1.0)
    radii = radius * (1.0 - (1.0 - _uniform(rng, knobs.end_taper)) * arc)
    radii = min_radius + np.maximum(radii - min_radius, 0.0) * np.clip((1.0 - arc) / 0.25, 0.0, 1.0)

    children: list[tuple[int, float, float]] = []  # (index, radius ratio, side)
    if depth < knobs.max_depth:
        spacing = _uniform(rng, knobs.branch_spacing_512) * scale * (1.0 + 0.5 * depth)
        position = spacing * rng.uniform(0.3, 1.0)
        side = rng.choice([-1.0, 1.0])
        while position < 0.9 * k * knobs.step_512 * scale:
            side = -side if rng.random() < 0.7 else side
            index = int(position / (knobs.step_512 * scale))
            children.append((index, _uniform(rng, knobs.child_radius_ratio), side))
            position += spacing * rng.uniform(0.6, 1.4)

    # Murray's law: r_parent_before^3 = r_parent_after^3 + r_child^3, so the parent narrows at a fork.
    drop = np.ones(k)
    forks: list[tuple[int, float, float]] = []  # (index, child radius, side)
    for index, ratio, side in children:
        forks.append((index, ratio * float(radii[index] * drop[index]), side))  # parent just before the fork
        drop[index:] *= (1.0 - ratio**3) ** (1.0 / 3.0)
    radii = np.maximum(radii * drop, min_radius)
    out.append(Branch(points=points, radii=radii, depth=depth))

    tangents = np.gradient(points, axis=0)
    for index, child_radius, side in forks:
        if child_radius < min_radius:
            continue
        angle = np.deg2rad(_uniform(rng, knobs.branch_angle_deg))
        parent_heading = float(np.arctan2(tangents[index, 1], tangents[index, 0]))
        remaining = (k - index) * knobs.step_512 * scale
        child_length = (length + remaining) / 2 * _uniform(rng, knobs.child_length_ratio)
        _grow(points[index], parent_heading + side * angle, child_radius, child_length,
              depth + 1, rng, knobs, size, out)


def grow_tree(ostium: np.ndarray, size: int, rng: np.random.Generator, knobs: GeneratorKnobs) -> list[Branch]:
    """2-3 main arteries leaving the ostium, fanned around a direction towards the heart's centre."""
    scale = size / _REFERENCE_SIZE
    target = np.array([rng.uniform(0.35, 0.65), rng.uniform(0.55, 0.8)]) * size
    mean_heading = float(np.arctan2(*(target - ostium)[::-1]))
    n = int(rng.integers(knobs.n_arteries[0], knobs.n_arteries[1] + 1))
    spread = np.deg2rad(rng.uniform(90.0, 150.0))
    headings = mean_heading + np.linspace(-spread / 2, spread / 2, n) + rng.normal(0.0, 0.15, n)
    branches: list[Branch] = []
    for heading in headings:
        radius = _uniform(rng, knobs.root_radius_512) * scale
        length = _uniform(rng, knobs.artery_length) * size
        start = ostium + rng.normal(0.0, 3.0 * scale, 2)
        _grow(start, float(heading), radius, length, 0, rng, knobs, size, branches)
    return branches


# ---------------------------------------------------------------- rasterising tubes


def rasterise_tube(points: np.ndarray, radii: np.ndarray, thickness: np.ndarray, inside: np.ndarray) -> None:
    """Add a tube (polyline of capsules with linearly varying radius) to `thickness` and `inside`.

    `thickness` receives, by maximum, the chord length 2·sqrt(r² − d²) through the tube at each
    pixel centre: the path length an X-ray travels through the lumen. `inside` marks pixels whose
    centre lies within the tube. Work is done chunk by chunk in each chunk's bounding box, so
    the cost follows the tube's area, not the image's.
    """
    height, width = thickness.shape
    a, b = points[:-1], points[1:]
    ra, rb = radii[:-1], radii[1:]
    chunk = 20  # segments per bounding box: measured optimum between Python overhead and box area
    for s in range(0, len(a), chunk):
        ca, cb, cra, crb = a[s : s + chunk], b[s : s + chunk], ra[s : s + chunk], rb[s : s + chunk]
        reach = float(max(cra.max(), crb.max())) + 1.0
        lo = np.floor(np.minimum(ca.min(0), cb.min(0)) - reach).astype(int)
        hi = np.ceil(np.maximum(ca.max(0), cb.max(0)) + reach).astype(int) + 1
        x0, y0 = max(lo[0], 0), max(lo[1], 0)
        x1, y1 = min(hi[0], width), min(hi[1], height)
        if x0 >= x1 or y0 >= y1:
            continue
        px = np.arange(x0, x1, dtype=np.float32)[None, None, :]
        py = np.arange(y0, y1, dtype=np.float32)[None, :, None]
        ax, ay = ca[:, 0, None, None], ca[:, 1, None, None]
        ux, uy = (cb[:, 0] - ca[:, 0])[:, None, None], (cb[:, 1] - ca[:, 1])[:, None, None]
        length2 = np.maximum(ux * ux + uy * uy, 1e-12)
        t = np.clip(((px - ax) * ux + (py - ay) * uy) / length2, 0.0, 1.0)
        dx, dy = px - ax - t * ux, py - ay - t * uy
        r = cra[:, None, None] + t * (crb - cra)[:, None, None]
        excess = (r * r - dx * dx - dy * dy).max(axis=0)  # r² − d² for the nearest capsule
        view = thickness[y0:y1, x0:x1]
        np.maximum(view, 2.0 * np.sqrt(np.maximum(excess, 0.0)), out=view)
        inside[y0:y1, x0:x1] |= excess >= 0.0


def _catheter_path(ostium: np.ndarray, away: float, size: int, rng: np.random.Generator) -> np.ndarray:
    """A cubic Bézier from an image edge (usually the top) to the ostium, arriving from `away`."""
    edge = rng.choice(4, p=[0.6, 0.15, 0.15, 0.1])  # top, left, right, bottom
    along = rng.uniform(0.2, 0.8) * size
    entry, inward = {
        0: (np.array([along, -2.0]), np.array([0.0, 1.0])),
        1: (np.array([-2.0, along]), np.array([1.0, 0.0])),
        2: (np.array([size + 1.0, along]), np.array([-1.0, 0.0])),
        3: (np.array([along, size + 1.0]), np.array([0.0, -1.0])),
    }[int(edge)]
    reach = np.linalg.norm(ostium - entry)
    c1 = entry + inward * reach * rng.uniform(0.3, 0.6)
    c2 = ostium + np.array([np.cos(away), np.sin(away)]) * reach * rng.uniform(0.2, 0.5)
    step = 2.0 * size / _REFERENCE_SIZE
    # Segments are drawn as exact capsules, so the sampling only has to follow the curve's bends.
    t = np.linspace(0.0, 1.0, 16 + int(1.5 * reach / step))[:, None]
    return (1 - t) ** 3 * entry + 3 * (1 - t) ** 2 * t * c1 + 3 * (1 - t) * t**2 * c2 + t**3 * ostium


# ---------------------------------------------------------------- anatomy and acquisition


def _fractal_noise(size: int, rng: np.random.Generator) -> np.ndarray:
    """Smooth, non-uniform tissue background: octaves summed on a coarse grid, then one cubic zoom."""
    base = 64
    field_ = np.zeros((base, base))
    for cells, amplitude in ((3, 0.22), (6, 0.07), (12, 0.03), (24, 0.03), (64, 0.025)):
        grid = rng.normal(0.0, amplitude, (cells, cells))
        field_ += ndimage.zoom(grid, base / cells, order=3, grid_mode=True, mode="grid-mirror")
    return ndimage.zoom(field_.astype(np.float32), size / base, order=3, grid_mode=True, mode="grid-mirror")


def _soft_step(x: np.ndarray, width: float) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(x / width))


def _anatomy(size: int, ostium: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Attenuation of everything but contrast and catheter: tissue, heart, diaphragm, ribs, spine.

    All of it is smooth, so it is drawn on a half-resolution grid (in full-size pixel units) and
    upsampled once: a quarter of the work for no visible difference after the detector blur.
    """
    low = (size + 1) // 2
    coords = ((np.arange(low, dtype=np.float32) + 0.5) * (size / low) - 0.5).astype(np.float32)
    xx, yy = coords[None, :], coords[:, None]
    att = 0.7 + _fractal_noise(low, rng)

    # Heart shadow: a big soft ellipse below and around the ostium.
    cx, cy = (float(c) for c in ostium + np.array([rng.uniform(-0.1, 0.1), rng.uniform(0.15, 0.35)]) * size)
    ax, ay = (float(a) for a in rng.uniform(0.3, 0.55, 2) * size)
    tilt = rng.uniform(-0.6, 0.6)
    cos, sin = float(np.cos(tilt)), float(np.sin(tilt))
    u = ((xx - cx) * cos + (yy - cy) * sin) / ax
    v = ((yy - cy) * cos - (xx - cx) * sin) / ay
    att += rng.uniform(0.2, 0.45) * _soft_step(1.0 - np.sqrt(u * u + v * v), 0.08)

    # Diaphragm domes: large circles rising from below with a crisp edge.
    for _ in range(int(rng.integers(0, 3))):
        dx, dy = rng.uniform(-0.1, 1.1) * size, rng.uniform(1.0, 1.5) * size
        edge = rng.uniform(0.4, 0.8) * size - np.hypot(xx - dx, yy - dy)
        att += rng.uniform(0.12, 0.3) * _soft_step(edge, 0.006 * size)

    # Ribs: parallel arcs of a far-away centre; each band attenuates like a flattened tube.
    rx = rng.choice([rng.uniform(-0.6, -0.2), rng.uniform(1.2, 1.6)]) * size
    ry = rng.uniform(-0.6, 0.0) * size
    distance = np.hypot(xx - float(rx), yy - ry)
    first = float(np.hypot(rx - size / 2, ry - size / 2)) - 0.5 * size
    spacing = rng.uniform(0.14, 0.22) * size
    half_width = rng.uniform(0.025, 0.045) * size
    for k in range(int(rng.integers(2, 6))):
        d = (distance - (first + (k + rng.uniform(0.0, 1.0)) * spacing)) / half_width
        att += rng.uniform(0.05, 0.12) * np.sqrt(np.clip(1.0 - d * d, 0.0, 1.0))

    # Spine: a vertical column (slightly tilted) with vertebra-like periodic texture.
    column = rng.uniform(0.15, 0.85) * size + (yy - size / 2) * rng.uniform(-0.15, 0.15)
    profile = _soft_step(rng.uniform(0.06, 0.1) * size - np.abs(xx - column), 0.02 * size)
    period, phase = rng.uniform(0.1, 0.15) * size, rng.uniform(0, 2 * np.pi)
    vertebrae = 1.0 + 0.25 * np.cos(yy * (2 * np.pi / period) + phase)
    att += float(rng.choice([-1.0, 1.0], p=[0.3, 0.7])) * rng.uniform(0.1, 0.25) * profile * vertebrae
    return ndimage.zoom(att, size / low, order=1, grid_mode=True, mode="grid-mirror")


def _shutter(size: int, rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """Collimator transmission: an octagonal or round opening, dark outside; returns (map, floor)."""
    centred = (2 * np.arange(size, dtype=np.float32) - (size - 1)) / size  # -1 … 1 across the image
    u, v = centred[None, :], centred[:, None]
    if rng.random() < 0.6:
        opening = rng.uniform(1.5, 1.8) - (np.abs(u) + np.abs(v))
    else:
        opening = rng.uniform(1.05, 1.25) - np.hypot(u, v)
    floor = rng.uniform(0.08, 0.2)
    return floor + (1.0 - floor) * _soft_step(opening, 0.015), floor


def _draw_tubes(tubes: list[tuple[np.ndarray, np.ndarray]], size: int) -> tuple[np.ndarray, np.ndarray]:
    """Chord-length map and inside-mask of a set of (points, radii) tubes."""
    thickness = np.zeros((size, size), np.float32)
    inside = np.zeros((size, size), bool)
    for points, radii in tubes:
        rasterise_tube(points.astype(np.float32), radii.astype(np.float32), thickness, inside)
    return thickness, inside


def _expose(
    attenuation: np.ndarray, shutter: np.ndarray, open_: np.ndarray, rng: np.random.Generator,
    knobs: GeneratorKnobs, scale: float,
) -> np.ndarray:
    """Detector image: transmission, optical blur, Poisson quanta + read noise, unsharp mask, 8 bits."""
    transmission = ndimage.gaussian_filter(np.exp(-attenuation) * shutter, knobs.blur_sigma_512 * scale)
    transmission /= float(transmission[open_].mean())  # 1 = mean open background
    photons = _uniform(rng, knobs.photons)
    gain = _uniform(rng, knobs.background_grey) / photons
    grey = rng.poisson(transmission * photons).astype(np.float32) * gain
    grey += _uniform(rng, knobs.read_noise) * rng.standard_normal(grey.shape, dtype=np.float32)
    low_pass = ndimage.gaussian_filter(grey, knobs.sharpen_sigma_512 * scale, truncate=2.5)
    grey += _uniform(rng, knobs.sharpen) * (grey - low_pass)
    return np.clip(np.rint(grey), 0, 255).astype(np.uint8)


def generate_scene(size: int, rng: np.random.Generator, knobs: GeneratorKnobs = GeneratorKnobs()) -> Angiogram:
    """One angiogram with its layers; the same rng state always gives the same arrays."""
    scale = size / _REFERENCE_SIZE
    ostium = np.array([rng.uniform(0.3, 0.7), rng.uniform(0.15, 0.4)]) * size
    branches = grow_tree(ostium, size, rng, knobs)
    vessel_thickness, mask = _draw_tubes([(b.points, b.radii) for b in branches], size)

    # The catheter arrives from the side opposite to where the arteries head.
    roots = [b.points[-1] - b.points[0] for b in branches if b.depth == 0]
    spread = np.mean(roots, axis=0) if roots else np.array([0.0, 1.0])
    away = float(np.arctan2(-spread[1], -spread[0])) + rng.normal(0.0, 0.4)
    catheter_points = _catheter_path(ostium, away, size, rng)
    catheter_radii = np.full(len(catheter_points), _uniform(rng, knobs.catheter_radius_512) * scale)
    catheter_thickness, catheter = _draw_tubes([(catheter_points, catheter_radii)], size)

    attenuation = _anatomy(size, ostium, rng)
    attenuation += (_uniform(rng, knobs.vessel_mu_512) / scale) * vessel_thickness
    attenuation += (_uniform(rng, knobs.catheter_mu_512) / scale) * catheter_thickness
    shutter, floor = _shutter(size, rng)
    open_ = shutter > (1.0 + floor) / 2
    image = _expose(attenuation, shutter, open_, rng, knobs, scale)
    # Under the closed shutter the contrast drowns in noise, and annotators would not label it.
    return Angiogram(image=image, mask=mask & open_, catheter=catheter, shutter_open=open_, branches=tuple(branches))


def generate_angiogram(
    size: int, rng: np.random.Generator, knobs: GeneratorKnobs = GeneratorKnobs()
) -> tuple[np.ndarray, np.ndarray]:
    """A uint8 size×size angiogram and its bool vessel mask (the tree only, never the catheter)."""
    scene = generate_scene(size, rng, knobs)
    return scene.image, scene.mask


# ---------------------------------------------------------------- datasets


def _check(config: SyntheticConfig) -> None:
    if config.n < 1:
        raise BenchmarkError(f"synthetic dataset: n must be at least 1, got {config.n}")
    if config.size < MIN_SIZE:
        raise BenchmarkError(f"synthetic dataset: size must be at least {MIN_SIZE} px, got {config.size}")
    if config.seed < 0:
        raise BenchmarkError(f"synthetic dataset: seed must be non-negative, got {config.seed}")


def fingerprint(config: SyntheticConfig) -> str:
    """Identifies the content: changes with n, size, seed, the knobs and GENERATOR_VERSION."""
    knobs = hashlib.sha256(repr(config.knobs).encode()).hexdigest()[:12]
    return f"synthetic-v{GENERATOR_VERSION}-n{config.n}-size{config.size}-seed{config.seed}-{knobs}"


def synthetic_from_config(config: SyntheticConfig) -> LabelledDataset:
    """Lazy dataset: image i comes from its own rng seeded by (seed, i), and is cached once made."""
    _check(config)

    @functools.lru_cache(maxsize=None)
    def make(index: int) -> tuple[np.ndarray, np.ndarray]:
        return generate_angiogram(config.size, np.random.default_rng([config.seed, index]), config.knobs)

    def load(index: int, mask_threshold: int | None) -> LabelledItem:
        image, mask = make(index)  # generated masks are binary: a mask threshold has nothing to binarise
        return LabelledItem(image.copy(), mask.copy())  # callers may edit in place; the cache must not change

    return LabelledDataset(
        ids=[f"synth_{i:04d}" for i in range(config.n)],
        loader=load,
        source="synthetic",
        fingerprint=fingerprint(config),
    )


def synthetic_dataset(n: int = 200, size: int = 256, seed: int = 0) -> LabelledDataset:
    """The benchmark's default dataset: n procedural angiograms of size×size px."""
    return synthetic_from_config(SyntheticConfig(n=n, size=size, seed=seed))


def write_synthetic(out_dir: Path, n: int, size: int, seed: int) -> Path:
    """Write the dataset as imgs/<id>.png (8-bit grey) and masks/<id>.png (0/255): the folder layout."""
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise BenchmarkError(f"synthetic output {out_dir}: exists and is not a directory")
    dataset = synthetic_dataset(n=n, size=size, seed=seed)
    # Leftovers of an earlier, larger run would be read back as part of this dataset.
    names = set(dataset.ids)
    for folder in ("imgs", "masks"):
        foreign = sorted(p.name for p in (out_dir / folder).glob("*.png") if p.stem not in names)
        if foreign:
            raise BenchmarkError(
                f"synthetic output {out_dir / folder}: holds {foreign[0]}, which is not part of this dataset;"
                " choose an empty folder"
            )
    for folder in ("imgs", "masks"):
        (out_dir / folder).mkdir(parents=True, exist_ok=True)
    for index, name in enumerate(dataset.ids):
        image, mask = dataset[index]
        Image.fromarray(image).save(out_dir / "imgs" / f"{name}.png")
        Image.fromarray(mask.astype(np.uint8) * 255).save(out_dir / "masks" / f"{name}.png")
    return out_dir

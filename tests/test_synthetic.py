"""The synthetic angiogram generator: deterministic, angiogram-like, masks on the vessels."""

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from benchmark.data.synthetic import (
    GENERATOR_VERSION,
    generate_angiogram,
    generate_scene,
    rasterise_tube,
    synthetic_dataset,
    write_synthetic,
)
from benchmark.core.errors import BenchmarkError


def test_same_seed_same_image_and_other_seed_other_image():
    a = generate_angiogram(128, np.random.default_rng(5))
    b = generate_angiogram(128, np.random.default_rng(5))
    c = generate_angiogram(128, np.random.default_rng(6))
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])
    assert a[0].dtype == np.uint8 and a[1].dtype == bool and a[0].shape == a[1].shape == (128, 128)


def test_tube_thickness_is_the_chord_through_the_lumen():
    thickness = np.zeros((12, 16), np.float32)
    inside = np.zeros((12, 16), bool)
    points = np.array([[2.0, 5.0], [12.0, 5.0]], np.float32)  # (x, y): a horizontal tube along row 5
    rasterise_tube(points, np.array([2.0, 2.0], np.float32), thickness, inside)
    column = thickness[:, 7]
    assert column[5] == pytest.approx(4.0)  # on the axis: the diameter
    assert column[6] == pytest.approx(2 * np.sqrt(3.0))  # 1 px off: 2·sqrt(r² − d²)
    assert column[7] == 0.0 and inside[7, 7]  # on the wall: inside, no path length
    assert not inside[8, 7] and not inside[5, 15]  # beyond the wall and past the rounded end (d = 3)


def test_half_pixel_tube_marks_a_pixel_in_every_column_it_crosses():
    inside = np.zeros((10, 12), bool)
    points = np.array([[0.3, 0.2], [10.3, 7.7]], np.float32)
    rasterise_tube(points, np.array([0.5, 0.5], np.float32), np.zeros((10, 12), np.float32), inside)
    assert all(inside[:, x].any() for x in range(1, 11))


def test_lazy_dataset_gives_image_i_whatever_the_access_order():
    forward = synthetic_dataset(4, 64, seed=2)
    backward = synthetic_dataset(4, 64, seed=2)
    later = [backward[i] for i in (3, 2, 1, 0)][::-1]
    for i in range(4):
        assert np.array_equal(forward[i][0], later[i][0]) and np.array_equal(forward[i][1], later[i][1])
    assert forward.ids == ["synth_0000", "synth_0001", "synth_0002", "synth_0003"]
    assert forward.source == "synthetic"


def test_image_i_is_the_generator_fed_with_seed_and_index():
    image, mask = synthetic_dataset(3, 64, seed=7)[2]
    expected_image, expected_mask = generate_angiogram(64, np.random.default_rng([7, 2]))
    assert np.array_equal(image, expected_image) and np.array_equal(mask, expected_mask)


def test_editing_a_returned_image_does_not_change_the_cached_one():
    data = synthetic_dataset(1, 64, seed=0)
    image, mask = data[0]
    original = image.copy()
    image[:] = 0
    mask[:] = True
    again, again_mask = data[0]
    assert np.array_equal(again, original) and not again_mask.all()


def test_fingerprint_changes_with_n_size_seed_and_names_the_version():
    base = synthetic_dataset(4, 64, seed=0).fingerprint
    others = {synthetic_dataset(5, 64, 0).fingerprint, synthetic_dataset(4, 96, 0).fingerprint,
              synthetic_dataset(4, 64, 1).fingerprint}
    assert base not in others and len(others) == 3
    assert base == synthetic_dataset(4, 64, seed=0).fingerprint
    assert f"v{GENERATOR_VERSION}" in base


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_vessels_are_darker_than_the_background_just_around_them(seed):
    scene = generate_scene(256, np.random.default_rng(seed))
    image = scene.image.astype(float)
    ring = ndimage.binary_dilation(scene.mask, iterations=4) & ~ndimage.binary_dilation(scene.mask, iterations=1)
    clear = ~ndimage.binary_dilation(scene.catheter, iterations=3) & scene.shutter_open
    inside = image[scene.mask & clear].mean()
    around = image[ring & clear].mean()
    assert inside < around - 8, (inside, around)


def test_vessel_fraction_is_a_few_percent():
    data = synthetic_dataset(12, 256, seed=0)
    fractions = [data[i][1].mean() for i in range(12)]
    assert 0.02 < np.mean(fractions) < 0.12, fractions
    assert min(fractions) > 0.005


def test_vessels_taper_from_root_to_tip():
    scene = generate_scene(512, np.random.default_rng(4))
    roots = [b for b in scene.branches if b.depth == 0]
    assert roots
    for branch in roots:
        assert branch.radii[0] > branch.radii[-1]
        assert 1.0 <= branch.radii.max() <= 8.5
    assert all(b.radii.min() >= 0.5 for b in scene.branches)


@pytest.mark.parametrize("seed", [3, 4])
def test_radius_never_grows_along_a_branch_and_children_start_narrower(seed):
    branches = generate_scene(256, np.random.default_rng(seed)).branches
    assert any(b.depth > 0 for b in branches)
    for branch in branches:
        assert np.all(np.diff(branch.radii) <= 1e-9)
        if branch.depth == 0:
            continue
        # A side branch starts exactly on a centreline point of its parent, one level up.
        parents = [
            (p, int(np.flatnonzero(np.all(p.points == branch.points[0], axis=1))[0]))
            for p in branches
            if p.depth == branch.depth - 1 and np.all(p.points == branch.points[0], axis=1).any()
        ]
        assert parents
        parent, fork = parents[0]
        assert branch.radii[0] < parent.radii[fork - 1]


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_collimator_corners_are_dark(seed):
    image, mask = generate_angiogram(256, np.random.default_rng(seed))
    centre = image[96:160, 96:160].mean()
    for corner in (image[:12, :12], image[:12, -12:], image[-12:, :12], image[-12:, -12:]):
        assert corner.mean() < 0.5 * centre
    assert not mask[:12, :12].any()  # nothing is labelled behind the shutter


def test_mask_excludes_the_catheter():
    scene = generate_scene(256, np.random.default_rng(1))
    assert scene.catheter.any()
    only_catheter = scene.catheter & ~ndimage.binary_dilation(scene.mask, iterations=2)
    assert only_catheter.sum() > 0 and not (scene.mask & only_catheter).any()


def test_written_folder_reads_back_identical(tmp_path):
    out = write_synthetic(tmp_path / "s", n=3, size=64, seed=9)
    data = synthetic_dataset(3, 64, seed=9)
    assert sorted(p.name for p in (out / "imgs").iterdir()) == [f"{name}.png" for name in data.ids]
    for i, name in enumerate(data.ids):
        png = Image.open(out / "imgs" / f"{name}.png")
        assert png.mode == "L"
        mask = np.asarray(Image.open(out / "masks" / f"{name}.png"))
        assert np.array_equal(np.asarray(png), data[i][0])
        assert set(np.unique(mask)) <= {0, 255} and np.array_equal(mask == 255, data[i][1])


def test_writing_into_a_folder_with_other_images_is_refused(tmp_path):
    write_synthetic(tmp_path, n=3, size=32, seed=0)
    write_synthetic(tmp_path, n=3, size=32, seed=0)  # the same dataset again is fine
    with pytest.raises(BenchmarkError, match="synth_0002.png"):
        write_synthetic(tmp_path, n=2, size=32, seed=0)


@pytest.mark.parametrize(("n", "size", "seed", "option"), [(2, 16, 0, "size"), (0, 64, 0, "n"), (2, 64, -1, "seed")])
def test_bad_options_are_refused_by_name(n, size, seed, option):
    with pytest.raises(BenchmarkError, match=option):
        synthetic_dataset(n, size, seed)

"""The synthetic angiogram generator: deterministic, angiogram-like, masks on the vessels."""

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from benchmark.data.synthetic import generate_angiogram, generate_scene, synthetic_dataset, write_synthetic
from benchmark.errors import BenchmarkError


def test_same_seed_same_image_and_other_seed_other_image():
    a = generate_angiogram(128, np.random.default_rng(5))
    b = generate_angiogram(128, np.random.default_rng(5))
    c = generate_angiogram(128, np.random.default_rng(6))
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])
    assert a[0].dtype == np.uint8 and a[1].dtype == bool and a[0].shape == (128, 128)


def test_lazy_dataset_gives_image_i_whatever_the_access_order():
    forward = synthetic_dataset(4, 64, seed=2)
    backward = synthetic_dataset(4, 64, seed=2)
    later = [backward[i] for i in (3, 2, 1, 0)][::-1]
    for i in range(4):
        assert np.array_equal(forward[i][0], later[i][0]) and np.array_equal(forward[i][1], later[i][1])
    assert forward.fingerprint != synthetic_dataset(4, 64, seed=3).fingerprint
    assert forward.ids == ["synth_0000", "synth_0001", "synth_0002", "synth_0003"]


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


def test_collimator_corners_are_dark():
    image, _ = generate_angiogram(256, np.random.default_rng(0))
    corner = image[:12, :12].mean()
    centre = image[96:160, 96:160].mean()
    assert corner < 0.5 * centre


def test_mask_excludes_the_catheter():
    scene = generate_scene(256, np.random.default_rng(1))
    assert scene.catheter.any()
    only_catheter = scene.catheter & ~ndimage.binary_dilation(scene.mask, iterations=2)
    assert only_catheter.sum() > 0 and not (scene.mask & only_catheter).any()


def test_written_folder_reads_back_identical(tmp_path):
    write_synthetic(tmp_path / "s", n=3, size=64, seed=9)
    data = synthetic_dataset(3, 64, seed=9)
    for i, name in enumerate(data.ids):
        image = np.asarray(Image.open(tmp_path / "s" / "imgs" / f"{name}.png"))
        mask = np.asarray(Image.open(tmp_path / "s" / "masks" / f"{name}.png"))
        assert np.array_equal(image, data[i][0])
        assert set(np.unique(mask)) <= {0, 255} and np.array_equal(mask == 255, data[i][1])


def test_too_small_an_image_is_refused():
    with pytest.raises(BenchmarkError, match="size"):
        synthetic_dataset(2, 16)

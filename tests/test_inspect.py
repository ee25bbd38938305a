"""`inspect_dataset`: facts about a dataset, and every problem in it, not just the first."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from benchmark.data.inspection import inspect_dataset

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")


def save(path: Path, array: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)
    return path


def mask_with(pixels: int, h: int = 16, w: int = 16) -> np.ndarray:
    mask = np.zeros(h * w, np.uint8)
    mask[:pixels] = 255
    return mask.reshape(h, w)


def test_clean_folder_reports_sizes_fractions_and_no_problems(tmp_path):
    # vessel fractions 16/256, 32/256 (16×16) and 64/512 (16×32): mean (1/16 + 1/8 + 1/8) / 3 = 5/48
    for stem, pixels, shape in (("a", 16, (16, 16)), ("b", 32, (16, 16)), ("c", 64, (16, 32))):
        save(tmp_path / "imgs" / f"{stem}.png", np.zeros(shape, np.uint8))
        save(tmp_path / "masks" / f"{stem}.png", mask_with(pixels, *shape))
    report = inspect_dataset(tmp_path)
    assert report.ok and report.problems == []
    assert report.format == "folder" and report.count == 3
    assert report.sizes == {(16, 16): 2, (16, 32): 1}
    assert report.vessel_fraction_min == pytest.approx(1 / 16)
    assert report.vessel_fraction_max == pytest.approx(1 / 8)
    assert report.vessel_fraction_mean == pytest.approx(5 / 48)
    assert report.groups == {"": 3}
    lines = report.lines()
    assert "sizes: 16×16 (2), 32×16 (1)" in lines
    assert "vessel fraction: mean 10.42 %, min 6.25 %, max 12.50 %" in lines
    assert lines[-1] == "problems: none"


def test_every_problem_is_listed_and_reading_continues_past_each(tmp_path):
    save(tmp_path / "imgs" / "good.png", np.zeros((16, 16), np.uint8))
    save(tmp_path / "masks" / "good.png", mask_with(32))
    save(tmp_path / "imgs" / "nomask.png", np.zeros((16, 16), np.uint8))
    save(tmp_path / "imgs" / "grey3.png", np.zeros((16, 16), np.uint8))
    save(tmp_path / "masks" / "grey3.png", np.arange(256, dtype=np.uint8).reshape(16, 16) % 3)
    save(tmp_path / "imgs" / "wide.png", np.zeros((16, 16), np.uint8))
    save(tmp_path / "masks" / "wide.png", mask_with(8, 16, 20))
    cut = save(tmp_path / "imgs" / "cut.png", np.random.default_rng(1).integers(0, 256, (64, 64), dtype=np.uint8))
    cut.write_bytes(cut.read_bytes()[:200])
    save(tmp_path / "masks" / "cut.png", mask_with(8, 64, 64))

    report = inspect_dataset(tmp_path)
    assert not report.ok
    assert report.count == 4  # the pairs that exist; nomask.png is not one
    assert len(report.problems) == 4
    named = ["nomask.png", "grey3.png: mask is not binary, found values 0, 1, 2", "wide.png: mask is 20×16",
             "cut.png: cannot read image"]
    for fragment in named:
        assert sum(fragment in problem for problem in report.problems) == 1, fragment
    assert report.sizes == {(16, 16): 1}
    assert report.vessel_fraction_mean == pytest.approx(32 / 256)
    assert report.lines()[-4:] == [f"problem: {p}" for p in report.problems[-4:]]
    assert "problems: 4" in report.lines()


def test_missing_path_is_a_report_with_one_problem(tmp_path):
    report = inspect_dataset(tmp_path / "absent")
    assert report.count == 0 and report.sizes == {}
    assert len(report.problems) == 1 and "absent does not exist" in report.problems[0]
    assert report.vessel_fraction_mean is None


def test_arcade_report_counts_groups_and_lists_structural_problems(tmp_path):
    for split, names in (("train", ["1.png", "2.png"]), ("val", ["1.png"])):
        folder = tmp_path / "syntax" / split
        for name in names:
            save(folder / "images" / name, np.zeros((8, 8), np.uint8))
        coco = {
            "images": [{"id": k + 1, "file_name": n, "width": 8, "height": 8} for k, n in enumerate(names)],
            "annotations": [
                {"id": 1, "image_id": 1, "category_id": 1, "segmentation": [[0, 0, 4, 0, 4, 4, 0, 4]]},
                {"id": 2, "image_id": 1, "category_id": 1, "segmentation": [[0, 0, 12, 0, 12, 4]]},
                {"id": 3, "image_id": 42, "category_id": 1, "segmentation": [[0, 0, 2, 0, 2, 2]]},
            ],
        }
        (folder / "annotations").mkdir(parents=True)
        (folder / "annotations" / f"{split}.json").write_text(json.dumps(coco))
    report = inspect_dataset(tmp_path)
    assert report.format == "arcade" and report.count == 3
    assert report.groups == {"train": 2, "val": 1}
    # each split: annotation 2 leaves the 8×8 image, annotation 3 names a missing image id
    assert len(report.problems) == 4
    assert sum("val.json: annotation 2 (image 1.png): polygon point (12, 0) lies outside" in p
               for p in report.problems) == 1
    assert sum("train.json: annotation 3 refers to image id 42" in p for p in report.problems) == 1
    # the valid 4×4 square covers 16 of 64 pixels of each 1.png; 2.png has no annotation
    assert report.vessel_fraction_max == pytest.approx(0.25)
    assert report.vessel_fraction_min == 0.0


def test_exact_and_near_duplicates_are_listed_with_the_dice_between_their_masks(tmp_path):
    """b is a's pixels with its own mask (16 of a's 32 vessel pixels: Dice 2·16/48); c is a with mild
    noise (a near duplicate); d is another picture. Only the exact pair measures annotation agreement."""
    rng = np.random.default_rng(0)
    scene = (rng.random((64, 64)) * 200).astype(np.uint8)
    noisy = np.clip(scene.astype(int) + rng.integers(-2, 3, scene.shape), 0, 255).astype(np.uint8)
    for stem, image, pixels in (("a", scene, 32), ("b", scene, 16), ("c", noisy, 32),
                                ("d", (rng.random((64, 64)) * 200).astype(np.uint8), 8)):
        save(tmp_path / "imgs" / f"{stem}.png", image)
        save(tmp_path / "masks" / f"{stem}.png", mask_with(pixels, 64, 64))
    report = inspect_dataset(tmp_path)
    kinds = {(t.first, t.second): t.exact for t in report.twins}
    assert kinds == {("a", "b"): True, ("a", "c"): False, ("b", "c"): False}
    assert report.twin_dice[("a", "b")] == pytest.approx(2 * 16 / 48)
    assert report.agreement() == pytest.approx((1, 2 * 16 / 48, 2 * 16 / 48, 2 * 16 / 48))
    lines = report.lines()
    assert "duplicates: 1 exact, 2 near (32×32 thumbnails correlating at ≥ 0.99)" in lines
    assert "duplicate: a = b (exact; Dice between their masks 0.667)" in lines
    assert any(line.startswith("duplicate: a = c (near, r = 0.99") for line in lines)


def test_arcade_lists_its_five_pixel_identical_pairs_and_their_annotation_agreement():
    arcade = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "arcade"
    if not arcade.is_dir():
        pytest.skip("ARCADE is not beside the repository")
    report = inspect_dataset(arcade)
    exact = sorted((t.first, t.second) for t in report.twins if t.exact)
    assert exact == [("168", "793"), ("20", "214"), ("337", "972"), ("478", "887"), ("501", "612")]
    assert sorted(round(report.twin_dice[pair], 2) for pair in exact) == [0.76, 0.9, 0.9, 0.93, 0.94]
    n, mean, low, high = report.agreement()
    assert n == 5 and low == pytest.approx(0.756, abs=0.001) and high == pytest.approx(0.940, abs=0.001)

"""Dataset readers: folder (every mask naming and layout), ARCADE (COCO polygons) and nnU-Net raw,
on tiny hand-made fixtures, and on a few images of the shared ARCADE copy."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from benchmark.data.inspection import inspect_dataset
from benchmark.data.readers import (
    MASK_DIRS,
    MASK_SUFFIXES,
    ArcadeDataset,
    fingerprint_files,
    load_arcade,
    load_dataset,
    load_unlabelled,
    scan_dataset,
)
from benchmark.core.errors import BenchmarkError

ARCADE = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "arcade"  # ../shared beside the repo

# pycocotools' compiled decode trips a NumPy 2 deprecation inside itself; nothing to fix on our side.
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")


def save(path: Path, array: np.ndarray, mode: str | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array, mode=mode).save(path)
    return path


def ramp(h: int = 16, w: int = 16, offset: int = 0) -> np.ndarray:
    return ((np.arange(h * w).reshape(h, w) + offset) % 256).astype(np.uint8)


def square_mask(h: int = 16, w: int = 16, value: int = 255) -> np.ndarray:
    mask = np.zeros((h, w), np.uint8)
    mask[4:8, 4:8] = value
    return mask


def make_folder(root: Path, stems=("a", "b"), image_dir: str = "imgs") -> Path:
    for k, stem in enumerate(stems):
        save(root / image_dir / f"{stem}.png", ramp(offset=k))
        save(root / "masks" / f"{stem}.png", square_mask())
    return root


def rect(x0: float, y0: float, x1: float, y1: float) -> list[float]:
    """Axis-aligned rectangle polygon; COCO fills pixels whose unit square lies inside: x0..x1-1, y0..y1-1."""
    return [x0, y0, x1, y0, x1, y1, x0, y1]


def make_arcade_split(syntax: Path, split: str, images: dict[str, tuple[int, int]],
                      annotations: list[tuple[str, int, list[list[float]]]]) -> Path:
    """images: file name -> (h, w); annotations: (file name, category_id, polygons), in file order."""
    folder = syntax / split
    ids = {name: k + 1 for k, name in enumerate(images)}
    for name, (h, w) in images.items():
        save(folder / "images" / name, ramp(h, w))
    coco = {
        "images": [{"id": ids[n], "file_name": n, "width": w, "height": h} for n, (h, w) in images.items()],
        "annotations": [{"id": k + 1, "image_id": ids.get(n, 999), "category_id": c, "segmentation": polys,
                         "iscrowd": 0} for k, (n, c, polys) in enumerate(annotations)],
        "categories": [{"id": c, "name": str(c), "supercategory": ""} for c in range(1, 27)],
    }
    (folder / "annotations").mkdir(parents=True, exist_ok=True)
    (folder / "annotations" / f"{split}.json").write_text(json.dumps(coco))
    return folder


def make_arcade(root: Path) -> Path:
    """Two train images: 1.png with two overlapping segments, 2.png with one."""
    make_arcade_split(root / "syntax", "train", {"1.png": (16, 16), "2.png": (16, 20)}, [
        ("1.png", 3, [rect(2, 2, 10, 6)]),
        ("1.png", 5, [rect(6, 4, 12, 12), rect(0, 14, 4, 16)]),
        ("2.png", 7, [rect(0, 0, 20, 1)]),
    ])
    return root


# --- folder format ------------------------------------------------------------------------------


def test_folder_pairs_images_and_masks_by_stem_in_natural_order(tmp_path):
    make_folder(tmp_path, stems=("10", "2", "b"))
    ds = load_dataset(tmp_path)
    assert ds.ids == ["2", "10", "b"]
    assert ds.groups == ["", "", ""]
    image, mask = ds[1]  # stem "10", written first, with the offset-0 ramp
    assert image.dtype == np.uint8 and mask.dtype == bool
    np.testing.assert_array_equal(image, ramp(offset=0))
    assert mask.sum() == 16 and mask[4:8, 4:8].all()


def test_images_folder_and_mixed_file_formats_are_read(tmp_path):
    save(tmp_path / "images" / "x.tif", ramp())
    save(tmp_path / "masks" / "x.bmp", square_mask(value=1))
    (tmp_path / "images" / "notes.txt").write_text("not an image")
    ds = load_dataset(tmp_path, "folder")
    assert ds.ids == ["x"]
    image, mask = ds[0]
    np.testing.assert_array_equal(image, ramp())
    np.testing.assert_array_equal(mask, square_mask() > 0)


@pytest.mark.parametrize("value", [1, 7, 255])
def test_any_nonzero_value_of_a_two_valued_mask_is_vessel(tmp_path, value):
    save(tmp_path / "imgs" / "a.png", ramp())
    save(tmp_path / "masks" / "a.png", square_mask(value=value))
    _, mask = load_dataset(tmp_path)[0]
    np.testing.assert_array_equal(mask, square_mask() > 0)


@pytest.mark.parametrize("mode", ["RGB", "RGBA"])
def test_colour_encoded_grey_reads_as_grey(tmp_path, mode):
    grey = ramp()
    planes = [grey, grey, grey] + ([np.full_like(grey, 200)] if mode == "RGBA" else [])
    save(tmp_path / "imgs" / "a.png", np.stack(planes, axis=-1), mode)
    save(tmp_path / "masks" / "a.png", square_mask())
    image, _ = load_dataset(tmp_path)[0]
    assert image.shape == (16, 16)
    np.testing.assert_array_equal(image, grey)


def test_images_are_read_on_access_not_at_load(tmp_path):
    make_folder(tmp_path, stems=("a",))
    ds = load_dataset(tmp_path)
    save(tmp_path / "imgs" / "a.png", np.full((16, 16), 9, np.uint8))
    assert (ds[0][0] == 9).all()


def test_dataset_pickles_for_worker_processes(tmp_path):
    make_folder(tmp_path)
    ds = pickle.loads(pickle.dumps(load_dataset(tmp_path)))
    np.testing.assert_array_equal(ds[0][0], ramp())


def test_fingerprint_follows_content_not_location(tmp_path):
    a, b = make_folder(tmp_path / "a"), make_folder(tmp_path / "b")
    same = load_dataset(a).fingerprint
    assert load_dataset(b).fingerprint == same
    save(b / "masks" / "b.png", square_mask(value=1))  # same mask meaning, different bytes
    assert load_dataset(b).fingerprint != same
    (a / "imgs" / "b.png").rename(a / "imgs" / "c.png")
    (a / "masks" / "b.png").rename(a / "masks" / "c.png")
    assert load_dataset(a).fingerprint != same


def test_fingerprint_separates_name_from_bytes(tmp_path):
    (tmp_path / "x").write_bytes(b"ab")
    (tmp_path / "y").write_bytes(b"b")
    # name 'x'+'ab' and name 'xa'+'b' concatenate to the same text; the hash must still differ
    assert fingerprint_files([("x", tmp_path / "x")], "k") != fingerprint_files([("xa", tmp_path / "y")], "k")


def test_unlabelled_pool_reads_images_from_folder_or_imgs(tmp_path):
    save(tmp_path / "flat" / "3.png", ramp())
    save(tmp_path / "flat" / "1.png", ramp(offset=1))
    pool = load_unlabelled(tmp_path / "flat")
    assert pool.ids == ["1", "3"]
    np.testing.assert_array_equal(pool[0], ramp(offset=1))
    save(tmp_path / "nested" / "imgs" / "z.png", ramp())
    assert load_unlabelled(tmp_path / "nested").ids == ["z"]


# --- bad input: each a BenchmarkError naming the offending file or option ---------------------


def test_missing_path_is_named(tmp_path):
    with pytest.raises(BenchmarkError, match="nowhere.*does not exist"):
        load_dataset(tmp_path / "nowhere")


def test_unknown_format_names_the_option(tmp_path):
    make_folder(tmp_path)
    with pytest.raises(BenchmarkError, match="unknown dataset format 'nifti' \\(option format\\)"):
        load_dataset(tmp_path, "nifti")


def test_folder_with_no_images_is_an_error(tmp_path):
    (tmp_path / "imgs").mkdir()
    (tmp_path / "masks").mkdir()
    with pytest.raises(BenchmarkError, match=r"imgs: no image files"):
        load_dataset(tmp_path)
    with pytest.raises(BenchmarkError, match="no image files"):
        load_unlabelled(tmp_path)


def test_layout_that_is_neither_format_is_an_error(tmp_path):
    save(tmp_path / "pics" / "a.png", ramp())
    with pytest.raises(BenchmarkError, match="cannot tell the dataset format"):
        load_dataset(tmp_path)


def test_images_without_masks_are_named_at_load(tmp_path):
    make_folder(tmp_path)
    save(tmp_path / "imgs" / "lonely.png", ramp())
    with pytest.raises(BenchmarkError, match=r"1 image\(s\) with no mask .*: lonely\.png"):
        load_dataset(tmp_path)


def test_masks_without_images_are_named_at_load(tmp_path):
    make_folder(tmp_path)
    for k in range(7):
        save(tmp_path / "masks" / f"orphan{k}.png", square_mask())
    with pytest.raises(BenchmarkError, match=r"7 mask\(s\) with no image .*orphan0\.png.*… \(7 in all\)"):
        load_dataset(tmp_path)


def test_two_images_with_one_stem_are_named(tmp_path):
    make_folder(tmp_path)
    save(tmp_path / "imgs" / "a.tif", ramp())
    with pytest.raises(BenchmarkError, match="several files with stem 'a': a.png, a.tif"):
        load_dataset(tmp_path)


def test_mask_of_another_size_is_named_on_access(tmp_path):
    make_folder(tmp_path)
    save(tmp_path / "masks" / "b.png", square_mask(16, 24))
    ds = load_dataset(tmp_path)
    ds[0]
    with pytest.raises(BenchmarkError, match=r"masks/b\.png: mask is 24×16 but image .*imgs/b\.png is 16×16"):
        ds[1]


def test_truncated_png_is_named_on_access(tmp_path):
    noise = np.random.default_rng(0).integers(0, 256, (64, 64), dtype=np.uint8)
    path = save(tmp_path / "imgs" / "cut.png", noise)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    save(tmp_path / "masks" / "cut.png", np.zeros((64, 64), np.uint8))
    ds = load_dataset(tmp_path)
    with pytest.raises(BenchmarkError, match=r"imgs/cut\.png: cannot read image"):
        ds[0]


def test_file_that_is_not_an_image_is_named_on_access(tmp_path):
    make_folder(tmp_path, stems=("a",))
    (tmp_path / "imgs" / "a.png").write_bytes(b"this is not a png")
    with pytest.raises(BenchmarkError, match=r"imgs/a\.png: cannot read image"):
        load_dataset(tmp_path)[0]


def test_non_binary_mask_reports_the_values_found(tmp_path):
    make_folder(tmp_path, stems=("a",))
    mask = square_mask()
    mask[0, 0], mask[0, 1] = 1, 2
    save(tmp_path / "masks" / "a.png", mask)
    with pytest.raises(BenchmarkError, match=r"masks/a\.png: mask is not binary, found values 0, 1, 2, 255"):
        load_dataset(tmp_path)[0]


def test_two_valued_mask_without_zero_background_is_not_binary(tmp_path):
    make_folder(tmp_path, stems=("a",))
    save(tmp_path / "masks" / "a.png", square_mask() // 2 + 100)
    with pytest.raises(BenchmarkError, match=r"a\.png: mask is not binary, found values 100, 227"):
        load_dataset(tmp_path)[0]


def test_colour_image_with_differing_channels_is_named(tmp_path):
    make_folder(tmp_path, stems=("a",))
    rgb = np.stack([ramp(), ramp(), np.zeros((16, 16), np.uint8)], axis=-1)
    save(tmp_path / "imgs" / "a.png", rgb, "RGB")
    with pytest.raises(BenchmarkError, match=r"imgs/a\.png: colour image \(mode RGB\) whose channels differ"):
        load_dataset(tmp_path)[0]


def test_sixteen_bit_image_is_named(tmp_path):
    make_folder(tmp_path, stems=("a",))
    save(tmp_path / "imgs" / "a.png", (ramp().astype(np.uint16) * 256))
    with pytest.raises(BenchmarkError, match=r"imgs/a\.png: uint16 pixels; expected 8-bit"):
        load_dataset(tmp_path)[0]


# --- ARCADE format, hand-made ---------------------------------------------------------------------


def test_arcade_vessel_mask_is_the_union_of_all_polygons(tmp_path):
    ds = load_dataset(make_arcade(tmp_path))
    assert isinstance(ds, ArcadeDataset)
    assert ds.ids == ["1", "2"] and ds.groups == ["train", "train"]
    image, mask = ds[0]
    np.testing.assert_array_equal(image, ramp(16, 16))
    expected = np.zeros((16, 16), bool)
    expected[2:6, 2:10] = True    # rect(2, 2, 10, 6): rows 2..5, columns 2..9
    expected[4:12, 6:12] = True   # rect(6, 4, 12, 12)
    expected[14:16, 0:4] = True   # rect(0, 14, 4, 16)
    np.testing.assert_array_equal(mask, expected)
    image, mask = ds[1]
    assert image.shape == mask.shape == (16, 20)
    assert mask.sum() == 20 and mask[0].all()


def test_arcade_segment_map_labels_categories_with_later_annotations_on_top(tmp_path):
    ds = load_arcade(make_arcade(tmp_path))
    labels = ds.segment_map(0)
    expected = np.zeros((16, 16), np.int32)
    expected[2:6, 2:10] = 3
    expected[4:12, 6:12] = 5      # overlaps rows 4..5, columns 6..9 of category 3: 5 wins
    expected[14:16, 0:4] = 5
    np.testing.assert_array_equal(labels, expected)
    assert ds.categories[26] == "26"


def test_arcade_loads_from_root_syntax_or_split_folder(tmp_path):
    make_arcade(tmp_path)
    via = [load_dataset(p) for p in (tmp_path, tmp_path / "syntax", tmp_path / "syntax" / "train")]
    assert all(d.ids == ["1", "2"] and d.groups == ["train", "train"] for d in via)
    assert len({d.fingerprint for d in via}) == 1


def test_arcade_splits_keep_plain_ids_unless_stems_collide(tmp_path):
    syntax = make_arcade(tmp_path / "distinct") / "syntax"
    make_arcade_split(syntax, "val", {"3.png": (16, 16)}, [("3.png", 1, [rect(0, 0, 2, 2)])])
    ds = load_dataset(tmp_path / "distinct")
    assert ds.ids == ["1", "2", "3"] and ds.groups == ["train", "train", "val"]

    syntax = make_arcade(tmp_path / "clash") / "syntax"
    make_arcade_split(syntax, "test", {"1.png": (16, 16)}, [("1.png", 1, [rect(0, 0, 2, 2)])])
    ds = load_dataset(tmp_path / "clash")
    assert ds.ids == ["train_1", "train_2", "test_1"] and ds.groups == ["train", "train", "test"]
    assert ds[2][1].sum() == 4


def test_polygon_on_the_edge_within_tolerance_is_accepted(tmp_path):
    make_arcade_split(tmp_path / "syntax", "train", {"1.png": (16, 16)},
                      [("1.png", 1, [[-0.5, -0.5, 16.8, -0.5, 16.8, 16.8, -0.5, 16.8]])])
    assert load_dataset(tmp_path)[0][1].all()


@pytest.mark.parametrize("point", [(-2.0, 3.0), (3.0, 17.5), (40.0, 3.0)])
def test_polygon_outside_the_image_is_named_at_load(tmp_path, point):
    polygon = rect(2, 2, 6, 6) + list(point)
    make_arcade_split(tmp_path / "syntax", "train", {"1.png": (16, 16)}, [("1.png", 1, [polygon])])
    with pytest.raises(BenchmarkError, match=rf"train\.json: annotation 1 \(image 1\.png\): polygon point "
                                             rf"\({point[0]:g}, {point[1]:g}\) lies outside"):
        load_dataset(tmp_path)


def test_annotation_for_an_unknown_image_id_is_named_at_load(tmp_path):
    make_arcade_split(tmp_path / "syntax", "train", {"1.png": (16, 16)},
                      [("1.png", 1, [rect(0, 0, 2, 2)]), ("ghost.png", 1, [rect(0, 0, 2, 2)])])
    with pytest.raises(BenchmarkError, match=r"train\.json: annotation 2 refers to image id 999"):
        load_dataset(tmp_path)


def test_degenerate_polygon_is_named_at_load(tmp_path):
    make_arcade_split(tmp_path / "syntax", "train", {"1.png": (16, 16)}, [("1.png", 1, [[1, 1, 5, 5]])])
    with pytest.raises(BenchmarkError, match=r"train\.json: annotation 1 \(image 1\.png\): a polygon needs"):
        load_dataset(tmp_path)


def test_coco_file_that_does_not_parse_is_named(tmp_path):
    folder = make_arcade(tmp_path) / "syntax" / "train"
    (folder / "annotations" / "train.json").write_text('{"images": [')
    with pytest.raises(BenchmarkError, match=r"train\.json: not valid JSON"):
        load_dataset(tmp_path)


def test_json_without_coco_lists_is_named(tmp_path):
    folder = make_arcade(tmp_path) / "syntax" / "train"
    (folder / "annotations" / "train.json").write_text('{"images": []}')
    with pytest.raises(BenchmarkError, match=r"train\.json: not a COCO file"):
        load_dataset(tmp_path)


def test_arcade_image_file_without_an_entry_is_named(tmp_path):
    folder = make_arcade(tmp_path) / "syntax" / "train"
    save(folder / "images" / "9.png", ramp())
    with pytest.raises(BenchmarkError, match=r"1 image\(s\) with no entry \(no mask\) in .*train\.json: 9\.png"):
        load_dataset(tmp_path)


def test_arcade_entry_without_an_image_file_is_named(tmp_path):
    folder = make_arcade(tmp_path) / "syntax" / "train"
    (folder / "images" / "2.png").unlink()
    with pytest.raises(BenchmarkError, match=r"train\.json: 1 image\(s\) listed with no file in .*images: 2\.png"):
        load_dataset(tmp_path)


def test_arcade_image_of_another_size_than_declared_is_named_on_access(tmp_path):
    folder = make_arcade(tmp_path) / "syntax" / "train"
    save(folder / "images" / "2.png", ramp(16, 16))
    ds = load_dataset(tmp_path)
    with pytest.raises(BenchmarkError, match=r"images/2\.png: image is 16×16 but its annotation file says 20×16"):
        ds[1]


def test_auto_detects_arcade_even_with_derived_masks_beside_it(tmp_path):
    folder = make_arcade(tmp_path) / "syntax" / "train"
    save(folder / "masks" / "1.png", square_mask())
    assert isinstance(load_dataset(folder), ArcadeDataset)
    assert not isinstance(load_dataset(make_folder(tmp_path / "plain")), ArcadeDataset)


# --- the shared ARCADE copy ---------------------------------------------------------------------

needs_arcade = pytest.mark.skipif(not (ARCADE / "syntax").is_dir(), reason="shared ARCADE copy not present")
SAMPLE_IDS = ["1", "2", "317", "1000"]


@pytest.fixture(scope="module")
def arcade() -> ArcadeDataset:
    return load_arcade(ARCADE)


@needs_arcade
def test_real_arcade_has_1000_train_images(arcade):
    assert len(arcade) == 1000
    assert set(arcade.groups) == {"train"}
    assert arcade.categories[26] == "stenosis"


@needs_arcade
def test_real_arcade_masks_equal_the_pycocotools_masks_shipped_with_it(arcade):
    for image_id in SAMPLE_IDS:
        image, mask = arcade[arcade.ids.index(image_id)]
        shipped = np.asarray(Image.open(ARCADE / "syntax" / "train" / "masks" / f"{image_id}.png")) > 0
        assert image.shape == mask.shape == (512, 512)
        np.testing.assert_array_equal(mask, shipped)
        assert 0.01 <= mask.mean() <= 0.10


@needs_arcade
def test_real_arcade_segment_map_covers_exactly_the_vessel_mask(arcade):
    index = arcade.ids.index("2")
    labels = arcade.segment_map(index)
    np.testing.assert_array_equal(labels > 0, arcade[index][1])
    assert set(np.unique(labels)) - {0} <= set(range(1, 27))


@needs_arcade
def test_real_arcade_loads_from_its_split_folder_too(arcade):
    split = load_dataset(ARCADE / "syntax" / "train")
    assert split.ids == arcade.ids and set(split.groups) == {"train"}
    assert split.fingerprint == arcade.fingerprint


# --- folder datasets as downloaded: mask suffixes, mask folder names, image formats, DCA1 ----------


def scan_notes(root: Path) -> list[str]:
    return scan_dataset(root).notes


@pytest.mark.parametrize("mask_dir", MASK_DIRS + ("GroundTruth",))
def test_every_mask_folder_name_is_recognised(tmp_path, mask_dir):
    save(tmp_path / "images" / "a.png", ramp())
    save(tmp_path / mask_dir / "a.png", square_mask())
    ds = load_dataset(tmp_path)
    assert ds.ids == ["a"]
    np.testing.assert_array_equal(ds[0][1], square_mask() > 0)
    assert f"layout: images in images/, masks in {mask_dir}/" in scan_notes(tmp_path)


@pytest.mark.parametrize("suffix", MASK_SUFFIXES)
def test_every_mask_suffix_is_recognised_and_reported(tmp_path, suffix):
    for k, stem in enumerate(("1", "2")):
        save(tmp_path / "imgs" / f"{stem}.png", ramp(offset=k))
        save(tmp_path / "masks" / f"{stem}{suffix}.png", square_mask())
    ds = load_dataset(tmp_path)
    assert ds.ids == ["1", "2"]
    np.testing.assert_array_equal(ds[1][0], ramp(offset=1))
    assert f"mask names: suffix '{suffix}' (2)" in scan_notes(tmp_path)
    assert f"mask names: suffix '{suffix}' (2)" in inspect_dataset(tmp_path).lines()


def test_dca1_images_and_gt_masks_in_one_folder(tmp_path):
    # DCA1 ships N.pgm and N_gt.pgm side by side.
    for k, stem in enumerate(("1", "2", "10")):
        save(tmp_path / f"{stem}.pgm", ramp(offset=k))
        save(tmp_path / f"{stem}_gt.pgm", square_mask())
    ds = load_dataset(tmp_path)
    assert ds.ids == ["1", "2", "10"]
    image, mask = ds[2]
    np.testing.assert_array_equal(image, ramp(offset=2))
    np.testing.assert_array_equal(mask, square_mask() > 0)
    assert scan_notes(tmp_path) == ["layout: images and masks in the dataset folder", "mask names: suffix '_gt' (3)"]


def test_suffixed_masks_inside_the_image_folder_are_found(tmp_path):
    save(tmp_path / "images" / "a.png", ramp())
    save(tmp_path / "images" / "a_mask.png", square_mask())
    assert load_dataset(tmp_path).ids == ["a"]
    assert "layout: images and masks in images/" in scan_notes(tmp_path)


def test_images_in_the_dataset_folder_with_a_mask_folder(tmp_path):
    save(tmp_path / "a.png", ramp())
    save(tmp_path / "labels" / "a_label.png", square_mask())
    assert load_dataset(tmp_path).ids == ["a"]
    assert "layout: images in the dataset folder, masks in labels/" in scan_notes(tmp_path)


def test_flat_mask_without_its_image_is_named(tmp_path):
    save(tmp_path / "1.png", ramp())
    save(tmp_path / "1_gt.png", square_mask())
    save(tmp_path / "3_gt.png", square_mask())
    with pytest.raises(BenchmarkError, match=r"1 mask\(s\) with no image.*3_gt\.png"):
        load_dataset(tmp_path)


@pytest.mark.parametrize("suffix", [".png", ".bmp", ".tif", ".tiff", ".pgm", ".ppm", ".gif", ".jpg", ".jpeg"])
def test_every_image_format_is_read(tmp_path, suffix):
    picture = np.full((16, 16), 100, np.uint8) if suffix in (".jpg", ".jpeg") else ramp()  # JPEG: flat, lossy
    planes = np.stack([picture] * 3, axis=-1) if suffix == ".ppm" else picture  # PPM is colour
    save(tmp_path / "imgs" / f"a{suffix}", planes)
    save(tmp_path / "masks" / "a_gt.png", square_mask())
    image, mask = load_dataset(tmp_path)[0]
    assert image.dtype == np.uint8 and image.shape == (16, 16)
    tolerance = 1 if suffix in (".jpg", ".jpeg") else 0
    assert np.abs(image.astype(int) - picture).max() <= tolerance
    np.testing.assert_array_equal(mask, square_mask() > 0)


# --- ambiguity: an error naming the files, never a silent pick -----------------------------------


def test_two_candidate_masks_for_one_image_are_named(tmp_path):
    save(tmp_path / "imgs" / "a.png", ramp())
    save(tmp_path / "masks" / "a.png", square_mask())
    save(tmp_path / "masks" / "a_gt.png", square_mask())
    with pytest.raises(BenchmarkError, match=r"imgs/a\.png: several candidate masks: a\.png, a_gt\.png"):
        load_dataset(tmp_path)


def test_two_suffixed_masks_beside_one_image_are_named(tmp_path):
    save(tmp_path / "1.png", ramp())
    save(tmp_path / "1_gt.png", square_mask())
    save(tmp_path / "1_seg.png", square_mask())
    with pytest.raises(BenchmarkError, match=r"1\.png: several candidate masks: 1_gt\.png, 1_seg\.png"):
        load_dataset(tmp_path)


def test_two_mask_folders_are_named(tmp_path):
    make_folder(tmp_path)
    save(tmp_path / "gt" / "a.png", square_mask())
    with pytest.raises(BenchmarkError, match=r"several mask folders \(gt/, masks/\)"):
        load_dataset(tmp_path)


def test_folder_layout_and_flat_pairs_at_once_are_named(tmp_path):
    make_folder(tmp_path)
    save(tmp_path / "c.png", ramp())
    save(tmp_path / "c_gt.png", square_mask())
    with pytest.raises(BenchmarkError, match=r"images with suffixed masks beside them and imgs/, masks/"):
        load_dataset(tmp_path)


def test_nnunet_and_folder_layouts_at_once_are_named(tmp_path):
    make_nnunet(make_folder(tmp_path), {"c1": ramp()})
    with pytest.raises(BenchmarkError, match=r"layouts of several formats \(folder, nnunet\)"):
        load_dataset(tmp_path)
    assert load_dataset(tmp_path, "nnunet").ids == ["c1"]  # naming the format settles it


# --- nnU-Net raw format ------------------------------------------------------------------------


def make_nnunet(root: Path, train: dict[str, np.ndarray], test: dict[str, np.ndarray] | None = None,
                ending: str = ".png", **meta) -> Path:
    for folder, cases in (("Tr", train), ("Ts", test or {})):
        for case, image in cases.items():
            save(root / f"images{folder}" / f"{case}_0000{ending}", image)
            save(root / f"labels{folder}" / f"{case}{ending}", (square_mask(*image.shape) > 0).astype(np.uint8))
    payload = {"channel_names": {"0": "angiogram"}, "labels": {"background": 0, "vessel": 1},
               "numTraining": len(train), "file_ending": ending, **meta}
    (root / "dataset.json").write_text(json.dumps(payload))
    return root


def test_nnunet_raw_dataset_is_detected_and_read_with_its_test_split(tmp_path):
    make_nnunet(tmp_path, {"case_2": ramp(), "case_10": ramp(offset=3)}, {"case_7": ramp(offset=5)})
    scan = scan_dataset(tmp_path)
    assert scan.format == "nnunet" and not scan.problems
    ds = scan.dataset
    assert ds.ids == ["case_2", "case_10", "case_7"]
    assert ds.groups == ["train", "train", "test"]
    image, mask = ds[1]
    np.testing.assert_array_equal(image, ramp(offset=3))
    np.testing.assert_array_equal(mask, square_mask() > 0)  # labels are 0/1
    assert "imagesTs/ + labelsTs/: the dataset's own test split (group 'test')" in scan.notes


def test_nnunet_ids_shared_by_train_and_test_are_prefixed(tmp_path):
    make_nnunet(tmp_path, {"1": ramp()}, {"1": ramp(offset=1)})
    assert load_dataset(tmp_path, "nnunet").ids == ["train_1", "test_1"]


def test_nnunet_float_tiff_images_read_back_exactly(tmp_path):
    make_nnunet(tmp_path, {"a": ramp()}, ending=".tif")
    values = np.linspace(-2.5, 3.25, 256, dtype=np.float32).reshape(16, 16)
    Image.fromarray(values, mode="F").save(tmp_path / "imagesTr" / "a_0000.tif")
    image, _ = load_dataset(tmp_path)[0]
    assert image.dtype == np.float32
    np.testing.assert_array_equal(image, values)


def test_nnunet_images_ts_without_labels_are_not_read(tmp_path):
    make_nnunet(tmp_path, {"a": ramp()})
    save(tmp_path / "imagesTs" / "b_0000.png", ramp())
    scan = scan_dataset(tmp_path)
    assert scan.dataset.ids == ["a"] and not scan.problems
    assert "imagesTs/ has no labelsTs/: not read (no masks)" in scan.notes


def test_nnunet_second_channel_and_misnamed_images_are_named(tmp_path):
    make_nnunet(tmp_path, {"a": ramp()})
    save(tmp_path / "imagesTr" / "a_0001.png", ramp())
    save(tmp_path / "imagesTr" / "b.png", ramp())
    problems = scan_dataset(tmp_path).problems
    assert any("a_0001.png: input channel 1" in p for p in problems)
    assert any("b.png: not named CASE_0000.png" in p for p in problems)


def test_nnunet_label_without_image_and_wrong_count_are_named(tmp_path):
    make_nnunet(tmp_path, {"a": ramp()}, numTraining=3)
    save(tmp_path / "labelsTr" / "z.png", square_mask())
    problems = scan_dataset(tmp_path).problems
    assert any("1 label(s) with no image" in p and "z.png" in p for p in problems)
    assert any("numTraining is 3 but" in p for p in problems)


@pytest.mark.parametrize("change, message", [
    ({"file_ending": ".nii.gz"}, r"file_ending '\.nii\.gz'"),
    ({"labels": {"background": 0, "lad": 1, "rca": 2}}, "labels must be background 0 and one vessel class"),
    ({"channel_names": {"0": "a", "1": "b"}}, "channel_names must list exactly one input channel"),
])
def test_nnunet_dataset_json_that_angiobench_cannot_read_is_named(tmp_path, change, message):
    make_nnunet(tmp_path, {"a": ramp()}, **change)
    with pytest.raises(BenchmarkError, match=r"dataset\.json: " + message):
        load_dataset(tmp_path)


def test_nnunet_without_dataset_json_is_named(tmp_path):
    make_nnunet(tmp_path, {"a": ramp()})
    (tmp_path / "dataset.json").unlink()
    with pytest.raises(BenchmarkError, match=r"dataset\.json: missing"):
        load_dataset(tmp_path)

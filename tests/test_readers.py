"""Dataset readers: folder (imgs/ + masks/) and ARCADE (COCO polygons), on tiny hand-made fixtures
and on a few images of the shared ARCADE copy."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from benchmark.data.readers import ArcadeDataset, fingerprint_files, load_arcade, load_dataset, load_unlabelled
from benchmark.errors import BenchmarkError

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

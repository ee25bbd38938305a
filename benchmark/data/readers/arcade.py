"""Format 'arcade': ARCADE in its official COCO layout, syntax/<split>/images/*.png +
syntax/<split>/annotations/<split>.json, read from the folder holding syntax/, syntax/ itself or one
split folder.

The COCO file is parsed once at load time; polygons are rasterised when an item is accessed, by the
COCO API's own rule. Structural problems (an annotation for an unknown image, a polygon outside its
image, an image with no entry) are found at load time. An ARCADE split folder may hold derived
masks/ beside its COCO file: the COCO polygons are the labels then, as the ARCADE README describes.

ARCADE ids are the image file stems. When several splits are loaded and a stem occurs in more
than one of them (the official train/val/test each number their images from 1), every id is
prefixed with its split: 'train_1', 'val_1'. `groups[i]` always holds the split name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from pycocotools import mask as coco_mask

from benchmark.data.dataset import LabelledDataset, LabelledItem
from benchmark.data.images import list_images, natural_key, read_image
from benchmark.data.readers._files import by_stem, fingerprint_files, listing, parse_json_object
from benchmark.data.readers._scan import DatasetScan, split_unique_ids
from benchmark.data.readers.registry import DatasetFormat, KnownDataset, load_dataset
from benchmark.core.errors import BenchmarkError

ARCADE_SPLITS = ("train", "val", "test")
EDGE_TOLERANCE_PX = 1.0  # polygon points may sit on or just past the image edge (annotation tools do)
ARCADE_LICENCE = "CC BY 4.0"
ARCADE_CITATION = ('M. Popov et al., "Dataset for Automatic Region-based Coronary Artery Disease Diagnostics Using '
                   'X-Ray Angiography Images", Scientific Data 11:20 (2024), doi:10.1038/s41597-023-02871-z')


@dataclass(frozen=True)
class ArcadeAnnotation:
    """One COCO annotation: its category and its polygons (flat x0, y0, x1, y1, … pixel coordinates)."""

    category_id: int
    polygons: tuple[np.ndarray, ...]


def _rasterise(polygons: list[np.ndarray], height: int, width: int) -> np.ndarray:
    """H×W×N uint8, one plane per polygon, by the COCO API's own rule (frPyObjects + decode).

    Other rasterisers (PIL, scikit-image) differ by several % Dice on thin vessels, so this is the
    convention results on ARCADE are compared under.
    """
    if not polygons:
        return np.zeros((height, width, 0), dtype=np.uint8)
    return coco_mask.decode(coco_mask.frPyObjects(polygons, height, width))


@dataclass(frozen=True)
class ArcadeImage:
    """One image of the COCO file: where it is, its declared size and its annotations, in file order."""

    path: Path
    width: int
    height: int
    annotations: tuple[ArcadeAnnotation, ...]

    def read(self) -> np.ndarray:
        image = read_image(self.path)
        if image.shape != (self.height, self.width):
            raise BenchmarkError(f"{self.path}: image is {image.shape[1]}×{image.shape[0]} but its "
                                 f"annotation file says {self.width}×{self.height}")
        return image

    def vessel_mask(self) -> np.ndarray:
        """Union of every polygon of every annotation."""
        polygons = [p for a in self.annotations for p in a.polygons]
        return _rasterise(polygons, self.height, self.width).any(axis=2)

    def segment_map(self) -> np.ndarray:
        """int32 H×W: each pixel's category_id, 0 background; a later annotation overwrites an earlier."""
        planes = _rasterise([p for a in self.annotations for p in a.polygons], self.height, self.width)
        labels = np.zeros((self.height, self.width), dtype=np.int32)
        start = 0
        for annotation in self.annotations:
            stop = start + len(annotation.polygons)
            labels[planes[:, :, start:stop].any(axis=2)] = annotation.category_id
            start = stop
        return labels


@dataclass(frozen=True)
class _ArcadePairs:
    """Picklable loader: reads the image and rasterises its polygons on access."""

    records: tuple[ArcadeImage, ...]

    def __call__(self, index: int, mask_threshold: int | None) -> LabelledItem:
        record = self.records[index]  # polygons rasterise to a binary mask: no threshold applies
        return LabelledItem(record.read(), record.vessel_mask())


@dataclass
class ArcadeDataset(LabelledDataset):
    """A LabelledDataset (binary vessel masks) that also gives ARCADE's per-segment labels.

    `categories` maps category_id to its SYNTAX segment name ('1' … '16c', 'stenosis').
    """

    records: tuple[ArcadeImage, ...] = ()
    categories: dict[int, str] = field(default_factory=dict)

    def segment_map(self, index: int) -> np.ndarray:
        """int32 H×W of category ids for item `index` (0 background; later annotations on top)."""
        if not 0 <= index < len(self.records):
            raise IndexError(index)
        return self.records[index].segment_map()


def _arcade_splits(root: Path) -> list[tuple[str, Path]]:
    """(split name, split folder) for a split folder, syntax/ itself, or the folder holding syntax/."""
    if (root / "annotations").is_dir():
        return [(root.name, root)]
    syntax = root / "syntax" if (root / "syntax").is_dir() else root
    found = [(split, syntax / split) for split in ARCADE_SPLITS if (syntax / split).is_dir()]
    if not found:
        raise BenchmarkError(f"{syntax}: no ARCADE split folder ({', '.join(ARCADE_SPLITS)})")
    return found


def _annotation_file(split: str, folder: Path) -> Path:
    candidates = sorted((folder / "annotations").glob("*.json"))
    preferred = folder / "annotations" / f"{split}.json"
    if preferred in candidates:
        return preferred
    if len(candidates) == 1:
        return candidates[0]
    raise BenchmarkError(f"{folder / 'annotations'}: expected {split}.json, found "
                         f"{listing(p.name for p in candidates) or 'no .json file'}")


def _parse_json(path: Path) -> dict:
    coco = parse_json_object(path)
    if not all(isinstance(coco.get(k), list) for k in ("images", "annotations")):
        raise BenchmarkError(f"{path}: not a COCO file (needs 'images' and 'annotations' lists)")
    return coco


@dataclass(frozen=True)
class _ImageEntry:
    id: int | str
    file_name: str
    width: int
    height: int


def _image_entry(entry: object, position: int, json_path: Path) -> _ImageEntry:
    try:
        if not isinstance(entry["id"], (int, str)):
            raise TypeError("id must be a number or a string")
        parsed = _ImageEntry(entry["id"], Path(entry["file_name"]).name,
                             int(entry["width"]), int(entry["height"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise BenchmarkError(f"{json_path}: images[{position}] is malformed "
                             "(needs id, file_name, width, height)") from exc
    if parsed.width <= 0 or parsed.height <= 0:
        raise BenchmarkError(f"{json_path}: image {parsed.file_name} has size {parsed.width}×{parsed.height}")
    return parsed


def _polygon(coords: object, where: str, image: _ImageEntry) -> np.ndarray:
    """One polygon as float64, checked: ≥ 3 points, and inside the image (up to the edge tolerance)."""
    try:
        polygon = np.asarray(coords, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise BenchmarkError(f"{where}: segmentation is not a list of polygons") from exc
    if polygon.ndim != 1 or polygon.size < 6 or polygon.size % 2 or not np.isfinite(polygon).all():
        raise BenchmarkError(f"{where}: a polygon needs an even number (≥ 6) of finite coordinates")
    xs, ys = polygon[0::2], polygon[1::2]
    outside = ((xs < -EDGE_TOLERANCE_PX) | (xs > image.width + EDGE_TOLERANCE_PX)
               | (ys < -EDGE_TOLERANCE_PX) | (ys > image.height + EDGE_TOLERANCE_PX))
    if outside.any():
        k = int(np.argmax(outside))
        raise BenchmarkError(f"{where}: polygon point ({xs[k]:g}, {ys[k]:g}) lies outside image "
                             f"{image.file_name} ({image.width}×{image.height})")
    return polygon


def _annotation(entry: object, position: int, json_path: Path, images: dict[int | str, _ImageEntry],
                categories: dict[int, str]) -> tuple[int | str, ArcadeAnnotation]:
    """(image id, annotation), or a BenchmarkError naming the COCO file and the annotation."""
    if not isinstance(entry, dict):
        raise BenchmarkError(f"{json_path}: annotations[{position}] is not an object")
    where = f"{json_path}: annotation {entry.get('id', f'[{position}]')}"
    image_id = entry.get("image_id")
    image = images.get(image_id) if isinstance(image_id, (int, str)) else None
    if image is None:
        raise BenchmarkError(f"{where} refers to image id {image_id!r}, which is not in 'images'")
    category = entry.get("category_id")
    if not isinstance(category, int) or (categories and category not in categories):
        raise BenchmarkError(f"{where}: unknown category_id {category!r}")
    segmentation = entry.get("segmentation")
    if not isinstance(segmentation, list):
        raise BenchmarkError(f"{where}: segmentation is not a list of polygons (RLE is not supported)")
    where = f"{where} (image {image.file_name})"
    return image.id, ArcadeAnnotation(category, tuple(_polygon(c, where, image) for c in segmentation))


def _scan_split(split: str, folder: Path, problems: list[str]
                ) -> tuple[list[ArcadeImage], Path, dict[int, str]]:
    """Parse one split's COCO file and match it with its images/ folder; problems are appended.

    Returns the images that have a file, the COCO file, and its category names.
    """
    image_dir = folder / "images"
    if not image_dir.is_dir():
        raise BenchmarkError(f"{folder}: no images/ folder")
    json_path = _annotation_file(split, folder)
    coco = _parse_json(json_path)
    categories = {c["id"]: str(c.get("name", c["id"])) for c in coco.get("categories", [])
                  if isinstance(c, dict) and "id" in c}
    entries: dict[int | str, _ImageEntry] = {}
    seen_names: set[str] = set()
    for position, raw in enumerate(coco["images"]):
        try:
            entry = _image_entry(raw, position, json_path)
        except BenchmarkError as exc:
            problems.append(str(exc))
            continue
        if entry.id in entries or entry.file_name in seen_names:
            problems.append(f"{json_path}: image id {entry.id} ({entry.file_name}) is listed twice")
            continue
        entries[entry.id] = entry
        seen_names.add(entry.file_name)
    per_image: dict[int | str, list[ArcadeAnnotation]] = {i: [] for i in entries}
    for position, raw in enumerate(coco["annotations"]):
        try:
            image_id, annotation = _annotation(raw, position, json_path, entries, categories)
        except BenchmarkError as exc:
            problems.append(str(exc))
            continue
        per_image[image_id].append(annotation)
    files = by_stem(list_images(image_dir), problems)
    names = {p.name for p in files.values()}
    listed = {e.file_name for e in entries.values()}
    missing = sorted(listed - names, key=natural_key)
    if missing:
        problems.append(f"{json_path}: {len(missing)} image(s) listed with no file in {image_dir}: "
                        f"{listing(missing)}")
    unlisted = sorted(names - listed, key=natural_key)
    if unlisted:
        problems.append(f"{image_dir}: {len(unlisted)} image(s) with no entry (no mask) in {json_path}: "
                        f"{listing(unlisted)}")
    records = [ArcadeImage(image_dir / e.file_name, e.width, e.height, tuple(per_image[e.id]))
               for e in entries.values() if e.file_name in names]
    records.sort(key=lambda r: natural_key(r.path.name))
    return records, json_path, categories


def scan(root: Path) -> DatasetScan:
    """Every split found, one after the other; ids by stem, prefixed with the split where stems repeat."""
    problems: list[str] = []
    splits = _arcade_splits(root)
    syntax = splits[0][1].parent
    records: list[ArcadeImage] = []
    groups: list[str] = []
    categories: dict[int, str] = {}
    hashed: list[tuple[str, Path]] = []
    for split, folder in splits:
        split_records, json_path, split_categories = _scan_split(split, folder, problems)
        records += split_records
        groups += [split] * len(split_records)
        categories.update(split_categories)
        files = [json_path] + [r.path for r in split_records]
        hashed += [(p.relative_to(syntax).as_posix(), p) for p in files]
    if not records and not problems:
        raise BenchmarkError(f"{root}: no images in any ARCADE split")
    ids = split_unique_ids([r.path.stem for r in records], groups)
    records_t = tuple(records)
    dataset = ArcadeDataset(ids=ids, loader=_ArcadePairs(records_t), source=f"arcade:{root}",
                            fingerprint=fingerprint_files(hashed, "arcade"), groups=groups,
                            records=records_t, categories=categories)
    return DatasetScan(dataset, "arcade", problems)


def load_arcade(path: str | Path) -> ArcadeDataset:
    """`load_dataset(path, 'arcade')`, typed for callers that want `segment_map`."""
    dataset = load_dataset(path, "arcade")
    assert isinstance(dataset, ArcadeDataset)
    return dataset


def detect(root: Path) -> bool:
    """syntax/, a split folder with annotations/, or an annotations/ folder holding a COCO file."""
    return ((root / "syntax").is_dir()
            or any((root / split / "annotations").is_dir() for split in ARCADE_SPLITS)
            or ((root / "annotations").is_dir() and any((root / "annotations").glob("*.json"))))


FORMAT = DatasetFormat(name="arcade", layout="syntax/ or annotations/*.json", detect=detect, scan=scan,
                       overrides=("folder",), dataset=KnownDataset("ARCADE", ARCADE_LICENCE, ARCADE_CITATION))

"""Dataset readers: a folder of images + masks, and ARCADE in its official COCO layout.

Loading only lists files (and, for ARCADE, parses the COCO file once); pixels are read when an
item is accessed, so 1,000 angiograms cost no memory up front. Structural problems (a mask with
no image, an annotation for an unknown image, a polygon outside its image) are found at load
time; per-file problems (truncated, wrong size, non-binary) on access.
`scan_dataset` returns every structural problem instead of raising, for `inspect_dataset`.

ARCADE ids are the image file stems. When several splits are loaded and a stem occurs in more
than one of them (the official train/val/test each number their images from 1), every id is
prefixed with its split: 'train_1', 'val_1'. `groups[i]` always holds the split name.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import numpy as np
from pycocotools import mask as coco_mask

from benchmark.data.dataset import LabelledDataset, UnlabelledDataset
from benchmark.data.images import list_images, natural_key, read_image, read_mask
from benchmark.errors import BenchmarkError

FORMATS = ("auto", "folder", "arcade")
ARCADE_SPLITS = ("train", "val", "test")
IMAGE_DIRS = ("imgs", "images")
EDGE_TOLERANCE_PX = 1.0  # polygon points may sit on or just past the image edge (annotation tools do)
SHOWN_NAMES = 5


@dataclass(frozen=True)
class DatasetScan:
    """What a structural scan found: the usable items, the format it was read as, and every problem."""

    dataset: LabelledDataset
    format: str
    problems: list[str]


def _listing(names: Iterable[str]) -> str:
    names = list(names)
    more = f", … ({len(names)} in all)" if len(names) > SHOWN_NAMES else ""
    return ", ".join(names[:SHOWN_NAMES]) + more


def _existing(path: str | Path) -> Path:
    root = Path(path).expanduser()
    if not root.exists():
        raise BenchmarkError(f"dataset path {root} does not exist")
    if not root.is_dir():
        raise BenchmarkError(f"dataset path {root} is not a folder")
    return root


def fingerprint_files(files: Iterable[tuple[str, Path]], kind: str) -> str:
    """sha1 over the reader kind and each (name, bytes) in name order: equal content, equal hash.

    Names are relative to the dataset, so a copy elsewhere keeps its fingerprint, while a renamed
    or edited file changes it.
    """
    digest = hashlib.sha1(kind.encode())
    for name, path in sorted(files):
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise BenchmarkError(f"{path}: cannot read file ({exc})") from exc
        digest.update(f"\0{name}\0{len(data)}\0".encode())
        digest.update(data)
    return digest.hexdigest()


def _by_stem(files: list[Path], problems: list[str]) -> dict[str, Path]:
    """Files keyed by stem; two files with one stem (a.png, a.jpg) are ambiguous and reported."""
    groups: dict[str, list[Path]] = {}
    for path in files:
        groups.setdefault(path.stem, []).append(path)
    for stem, paths in groups.items():
        if len(paths) > 1:
            problems.append(f"{paths[0].parent}: several files with stem '{stem}': "
                            f"{_listing(p.name for p in paths)}")
    return {stem: paths[0] for stem, paths in groups.items() if len(paths) == 1}


def _image_dir(root: Path, required: bool) -> Path | None:
    present = [root / name for name in IMAGE_DIRS if (root / name).is_dir()]
    if len(present) > 1:
        raise BenchmarkError(f"{root}: has both imgs/ and images/; keep one image folder")
    if not present and required:
        raise BenchmarkError(f"{root}: no imgs/ or images/ folder")
    return present[0] if present else None


def detect_format(root: Path) -> str:
    """'arcade' if there is a COCO layout (syntax/, split folders, annotations/*.json), else 'folder'."""
    arcade = ((root / "syntax").is_dir()
              or any((root / split / "annotations").is_dir() for split in ARCADE_SPLITS)
              or ((root / "annotations").is_dir() and any((root / "annotations").glob("*.json"))))
    if arcade:
        return "arcade"
    if any((root / name).is_dir() for name in IMAGE_DIRS) and (root / "masks").is_dir():
        return "folder"
    raise BenchmarkError(f"{root}: cannot tell the dataset format; expected syntax/ or "
                         "annotations/*.json (arcade) or imgs/ (or images/) with masks/ (folder)")


# --- folder: imgs/ + masks/ -------------------------------------------------------------------


def _check_same_shape(image: np.ndarray, mask: np.ndarray, image_path: Path, mask_path: Path) -> None:
    if image.shape != mask.shape:
        raise BenchmarkError(f"{mask_path}: mask is {mask.shape[1]}×{mask.shape[0]} but image "
                             f"{image_path} is {image.shape[1]}×{image.shape[0]}")


@dataclass(frozen=True)
class _FolderPairs:
    """Picklable loader (DataLoader workers, remote jobs) that reads one pair of files on access."""

    images: tuple[Path, ...]
    masks: tuple[Path, ...]

    def __call__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        image, mask = read_image(self.images[index]), read_mask(self.masks[index])
        _check_same_shape(image, mask, self.images[index], self.masks[index])
        return image, mask


def _scan_folder(root: Path) -> DatasetScan:
    image_dir = _image_dir(root, required=True)
    mask_dir = root / "masks"
    if not mask_dir.is_dir():
        raise BenchmarkError(f"{root}: no masks/ folder")
    problems: list[str] = []
    images = _by_stem(list_images(image_dir), problems)
    masks = _by_stem(list_images(mask_dir), problems)
    if not images:
        raise BenchmarkError(f"{image_dir}: no image files")
    lonely_images = [images[s].name for s in images if s not in masks]
    if lonely_images:
        problems.append(f"{image_dir}: {len(lonely_images)} image(s) with no mask in {mask_dir}: "
                        f"{_listing(lonely_images)}")
    lonely_masks = [masks[s].name for s in masks if s not in images]
    if lonely_masks:
        problems.append(f"{mask_dir}: {len(lonely_masks)} mask(s) with no image in {image_dir}: "
                        f"{_listing(lonely_masks)}")
    stems = sorted((s for s in images if s in masks), key=natural_key)
    pairs = _FolderPairs(tuple(images[s] for s in stems), tuple(masks[s] for s in stems))
    files = [(p.relative_to(root).as_posix(), p) for p in pairs.images + pairs.masks]
    dataset = LabelledDataset(ids=stems, loader=pairs, source=f"folder:{root}",
                              fingerprint=fingerprint_files(files, "folder"))
    return DatasetScan(dataset, "folder", problems)


# --- ARCADE: syntax/<split>/images + syntax/<split>/annotations/<split>.json ------------------


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

    def __call__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        record = self.records[index]
        return record.read(), record.vessel_mask()


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
                         f"{_listing(p.name for p in candidates) or 'no .json file'}")


def _parse_json(path: Path) -> dict:
    try:
        coco = json.loads(path.read_bytes())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BenchmarkError(f"{path}: not valid JSON ({exc})") from exc
    except OSError as exc:
        raise BenchmarkError(f"{path}: cannot read file ({exc})") from exc
    if not isinstance(coco, dict) or not all(isinstance(coco.get(k), list) for k in ("images", "annotations")):
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
    files = _by_stem(list_images(image_dir), problems)
    names = {p.name for p in files.values()}
    listed = {e.file_name for e in entries.values()}
    missing = sorted(listed - names, key=natural_key)
    if missing:
        problems.append(f"{json_path}: {len(missing)} image(s) listed with no file in {image_dir}: "
                        f"{_listing(missing)}")
    unlisted = sorted(names - listed, key=natural_key)
    if unlisted:
        problems.append(f"{image_dir}: {len(unlisted)} image(s) with no entry (no mask) in {json_path}: "
                        f"{_listing(unlisted)}")
    records = [ArcadeImage(image_dir / e.file_name, e.width, e.height, tuple(per_image[e.id]))
               for e in entries.values() if e.file_name in names]
    records.sort(key=lambda r: natural_key(r.path.name))
    return records, json_path, categories


def _scan_arcade(root: Path) -> DatasetScan:
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
    stems = [r.path.stem for r in records]
    collide = any(count > 1 for count in Counter(stems).values())
    ids = [f"{g}_{s}" for g, s in zip(groups, stems)] if collide else stems
    records_t = tuple(records)
    dataset = ArcadeDataset(ids=ids, loader=_ArcadePairs(records_t), source=f"arcade:{root}",
                            fingerprint=fingerprint_files(hashed, "arcade"), groups=groups,
                            records=records_t, categories=categories)
    return DatasetScan(dataset, "arcade", problems)


# --- entry points -----------------------------------------------------------------------------


def scan_dataset(path: str | Path, format: str = "auto") -> DatasetScan:
    """Structural scan that lists every problem instead of stopping at the first.

    Problems that leave nothing to scan (missing path, unknown format, unparsable COCO file)
    still raise BenchmarkError.
    """
    if format not in FORMATS:
        raise BenchmarkError(f"unknown dataset format {format!r} (option format); choose one of "
                             f"{', '.join(FORMATS)}")
    root = _existing(path)
    chosen = detect_format(root) if format == "auto" else format
    return _scan_arcade(root) if chosen == "arcade" else _scan_folder(root)


def load_dataset(path: str | Path, format: str = "auto") -> LabelledDataset:
    """A lazily read labelled dataset ('folder', 'arcade', or 'auto' to detect which).

    Raises BenchmarkError on the first structural problem; `inspect_dataset` lists them all.
    """
    scan = scan_dataset(path, format)
    if scan.problems:
        more = len(scan.problems) - 1
        suffix = f" (and {more} more problem(s); `angiobench data inspect` lists all)" if more else ""
        raise BenchmarkError(scan.problems[0] + suffix)
    return scan.dataset


def load_arcade(path: str | Path) -> ArcadeDataset:
    """`load_dataset(path, 'arcade')`, typed for callers that want `segment_map`."""
    dataset = load_dataset(path, "arcade")
    assert isinstance(dataset, ArcadeDataset)
    return dataset


@dataclass(frozen=True)
class _ImageFiles:
    """Picklable loader for an unlabelled pool."""

    paths: tuple[Path, ...]

    def __call__(self, index: int) -> np.ndarray:
        return read_image(self.paths[index])


def load_unlabelled(path: str | Path) -> UnlabelledDataset:
    """Images with no masks (in imgs/ or images/, else directly in the folder): a pre-training pool."""
    root = _existing(path)
    folder = _image_dir(root, required=False) or root
    problems: list[str] = []
    files = _by_stem(list_images(folder), problems)
    if problems:
        raise BenchmarkError(problems[0])
    if not files:
        raise BenchmarkError(f"{folder}: no image files")
    stems = sorted(files, key=natural_key)
    paths = tuple(files[s] for s in stems)
    hashed = [(p.relative_to(root).as_posix(), p) for p in paths]
    return UnlabelledDataset(ids=stems, loader=_ImageFiles(paths), source=f"unlabelled:{root}",
                             fingerprint=fingerprint_files(hashed, "unlabelled"))

"""Dataset readers: a folder of images + masks, ARCADE in its official COCO layout, nnU-Net raw.

Folder datasets are read as they are downloaded: images in imgs/ or images/ (or the dataset
folder itself), masks in masks/, labels/, gt/ or groundtruth/, or beside the images (DCA1: `N.png`
and `N_gt.png` in one folder); a mask is named like its image or with a suffix (MASK_SUFFIXES).
Two candidate masks for one image, or two layouts in one folder, are errors naming the files,
never a silent pick. An ARCADE split folder may hold derived masks/ beside its COCO file: the
COCO polygons are the labels then, as the ARCADE README describes.

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
from benchmark.data.images import list_images, natural_key, read_grey, read_image, read_mask
from benchmark.errors import BenchmarkError

FORMATS = ("auto", "folder", "arcade", "nnunet")
ARCADE_SPLITS = ("train", "val", "test")
IMAGE_DIRS = ("imgs", "images")
MASK_DIRS = ("masks", "labels", "gt", "groundtruth")
#: Mask file name = image stem + one of these (or the image's own stem in a separate mask folder).
MASK_SUFFIXES = ("_gt", "_mask", "_label", "_seg", "_manual1")
SAME_STEM = "same stem"
NNUNET_CHANNEL = "_0000"
NNUNET_FILE_ENDINGS = (".png", ".tif", ".tiff")
EDGE_TOLERANCE_PX = 1.0  # polygon points may sit on or just past the image edge (annotation tools do)
SHOWN_NAMES = 5


@dataclass(frozen=True)
class DatasetScan:
    """What a structural scan found: the usable items, the format it was read as, and every problem."""

    dataset: LabelledDataset
    format: str
    problems: list[str]
    notes: list[str] = field(default_factory=list)  # what was recognised: layout, mask naming


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


def _named_dir(root: Path, names: tuple[str, ...], what: str) -> Path | None:
    """The one sub-folder of `root` whose name (any case) is in `names`; two of them are an error."""
    present = sorted(p for p in root.iterdir() if p.is_dir() and p.name.lower() in names)
    if len(present) > 1:
        raise BenchmarkError(f"{root}: several {what} folders ({', '.join(p.name + '/' for p in present)}); "
                             "keep one")
    return present[0] if present else None


def _image_dir(root: Path, required: bool) -> Path | None:
    found = _named_dir(root, IMAGE_DIRS, "image")
    if found is None and required:
        raise BenchmarkError(f"{root}: no imgs/ or images/ folder")
    return found


def _split_suffix(stem: str) -> tuple[str, str] | None:
    """(image stem, suffix) when `stem` ends with a mask suffix (any case), else None."""
    for suffix in MASK_SUFFIXES:
        if stem.lower().endswith(suffix) and len(stem) > len(suffix):
            return stem[: -len(suffix)], suffix
    return None


def _has_suffixed_pairs(folder: Path) -> bool:
    """Whether some file of `folder` is named like a mask of another file there (DCA1: 1.png, 1_gt.png)."""
    stems = {p.stem for p in list_images(folder)}
    return any((split := _split_suffix(stem)) is not None and split[0] in stems for stem in stems)


@dataclass(frozen=True)
class FolderLayout:
    """Where a folder dataset keeps its images and its masks (the same folder for DCA1's naming)."""

    images: Path
    masks: Path

    @property
    def shared(self) -> bool:
        return self.images == self.masks


def folder_layout(root: Path) -> FolderLayout:
    """The image and mask folders of a folder dataset; several candidates are an error naming them."""
    image_dir, mask_dir = _image_dir(root, required=False), _named_dir(root, MASK_DIRS, "mask")
    flat = _has_suffixed_pairs(root)
    if flat and (image_dir or mask_dir):
        other = ", ".join(p.name + "/" for p in (image_dir, mask_dir) if p)
        raise BenchmarkError(f"{root}: holds both images with suffixed masks beside them and {other}; "
                             "keep one layout")
    if flat:
        return FolderLayout(root, root)
    if image_dir is None and mask_dir is not None and list_images(root):
        image_dir = root  # images in the dataset folder, masks in a sub-folder
    if image_dir is not None and mask_dir is None and _has_suffixed_pairs(image_dir):
        mask_dir = image_dir
    if image_dir is None or mask_dir is None:
        raise BenchmarkError(
            f"{root}: cannot tell the dataset format; expected syntax/ or annotations/*.json (arcade), "
            f"imagesTr/ + labelsTr/ (nnunet), or imgs/ (or images/) with a mask folder "
            f"({', '.join(d + '/' for d in MASK_DIRS)}) or masks named with a suffix "
            f"({', '.join(MASK_SUFFIXES)}) beside their images (folder)")
    return FolderLayout(image_dir, mask_dir)


def _is_arcade(root: Path) -> bool:
    return ((root / "syntax").is_dir()
            or any((root / split / "annotations").is_dir() for split in ARCADE_SPLITS)
            or ((root / "annotations").is_dir() and any((root / "annotations").glob("*.json"))))


def detect_format(root: Path) -> str:
    """'nnunet' (imagesTr/), 'arcade' (a COCO layout) or 'folder'; an nnU-Net folder that also holds
    another layout is an error naming both."""
    if (root / "imagesTr").is_dir():
        others = [name for name, present in (("arcade", _is_arcade(root)),
                                             ("folder", _folder_layout_or_none(root) is not None)) if present]
        if others:
            raise BenchmarkError(f"{root}: holds an nnU-Net layout (imagesTr/) and a {others[0]} layout; "
                                 "keep one, or choose with format")
        return "nnunet"
    if _is_arcade(root):
        return "arcade"
    folder_layout(root)
    return "folder"


def _folder_layout_or_none(root: Path) -> FolderLayout | None:
    try:
        return folder_layout(root)
    except BenchmarkError:
        return None


# --- folder: imgs/ + masks/ -------------------------------------------------------------------


def _check_same_shape(image: np.ndarray, mask: np.ndarray, image_path: Path, mask_path: Path) -> None:
    if image.shape != mask.shape:
        raise BenchmarkError(f"{mask_path}: mask is {mask.shape[1]}×{mask.shape[0]} but image "
                             f"{image_path} is {image.shape[1]}×{image.shape[0]}")


@dataclass(frozen=True)
class _FolderPairs:
    """Picklable loader (DataLoader workers, remote jobs) that reads one pair of files on access.
    `float_images` also accepts 32-bit float images (nnU-Net exports hold z-scored pixels)."""

    images: tuple[Path, ...]
    masks: tuple[Path, ...]
    float_images: bool = False

    def __call__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        read = read_grey if self.float_images else read_image
        image, mask = read(self.images[index]), read_mask(self.masks[index])
        _check_same_shape(image, mask, self.images[index], self.masks[index])
        return image, mask


@dataclass(frozen=True)
class _Matched:
    """Images paired with their masks, by stem; what was left unpaired; the namings recognised."""

    stems: list[str]
    images: tuple[Path, ...]
    masks: tuple[Path, ...]
    namings: Counter


def _match(images: dict[str, Path], masks: dict[str, Path], image_dir: Path, mask_dir: Path,
           allow_same_stem: bool, problems: list[str]) -> _Matched:
    """Each image's mask: a file with the image's stem (in a separate mask folder) or the stem plus a
    mask suffix. Two candidates for one image are a problem naming both; so is anything unpaired."""
    namings: Counter[str] = Counter()
    paired: dict[str, Path] = {}
    used: set[str] = set()
    lonely: list[str] = []
    for stem, image in images.items():
        candidates = [(SAME_STEM, stem)] if allow_same_stem and stem in masks else []
        candidates += [(f"suffix '{masks_stem[len(stem):]}'", masks_stem) for masks_stem in masks
                       if (split := _split_suffix(masks_stem)) is not None and split[0] == stem]
        if len(candidates) > 1:
            problems.append(f"{image}: several candidate masks: "
                            f"{_listing(masks[c].name for _, c in candidates)}; keep one")
            used.update(c for _, c in candidates)
        elif candidates:
            naming, mask_stem = candidates[0]
            namings[naming] += 1
            paired[stem] = masks[mask_stem]
            used.add(mask_stem)
        else:
            lonely.append(image.name)
    if lonely:
        problems.append(f"{image_dir}: {len(lonely)} image(s) with no mask in {mask_dir}: {_listing(lonely)}")
    lonely_masks = [masks[s].name for s in masks if s not in used]
    if lonely_masks:
        problems.append(f"{mask_dir}: {len(lonely_masks)} mask(s) with no image in {image_dir}: "
                        f"{_listing(lonely_masks)}")
    stems = sorted(paired, key=natural_key)
    return _Matched(stems, tuple(images[s] for s in stems), tuple(paired[s] for s in stems), namings)


def _naming_note(namings: Counter) -> str:
    return "mask names: " + (", ".join(f"{n} ({k})" for n, k in namings.most_common()) or "none matched")


def _scan_folder(root: Path) -> DatasetScan:
    layout = folder_layout(root)
    problems: list[str] = []
    files = _by_stem(list_images(layout.images), problems)
    if layout.shared:
        masks = {stem: path for stem, path in files.items() if _split_suffix(stem) is not None}
        images = {stem: path for stem, path in files.items() if stem not in masks}
    else:
        images, masks = files, _by_stem(list_images(layout.masks), problems)
    if not images:
        raise BenchmarkError(f"{layout.images}: no image files")
    matched = _match(images, masks, layout.images, layout.masks, not layout.shared, problems)
    pairs = _FolderPairs(matched.images, matched.masks)
    hashed = [(p.relative_to(root).as_posix(), p) for p in pairs.images + pairs.masks]
    dataset = LabelledDataset(ids=matched.stems, loader=pairs, source=f"folder:{root}",
                              fingerprint=fingerprint_files(hashed, "folder"))
    where = (f"images and masks in {_shown(root, layout.images)}" if layout.shared
             else f"images in {_shown(root, layout.images)}, masks in {_shown(root, layout.masks)}")
    return DatasetScan(dataset, "folder", problems, [f"layout: {where}", _naming_note(matched.namings)])


def _shown(root: Path, folder: Path) -> str:
    return "the dataset folder" if folder == root else folder.relative_to(root).as_posix() + "/"


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


def _parse_json_object(path: Path) -> dict:
    try:
        payload = json.loads(path.read_bytes())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BenchmarkError(f"{path}: not valid JSON ({exc})") from exc
    except OSError as exc:
        raise BenchmarkError(f"{path}: cannot read file ({exc})") from exc
    if not isinstance(payload, dict):
        raise BenchmarkError(f"{path}: expected a JSON object")
    return payload


def _parse_json(path: Path) -> dict:
    coco = _parse_json_object(path)
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


# --- nnU-Net raw: imagesTr/CASE_0000.png + labelsTr/CASE.png (+ imagesTs/, labelsTs/), dataset.json


@dataclass(frozen=True)
class NnunetMeta:
    """What a 2-D binary nnU-Net dataset.json must say for angiobench to read it."""

    file_ending: str
    num_training: int | None


def read_nnunet_meta(path: Path) -> NnunetMeta:
    """Parse dataset.json: one input channel, a 2-D file ending, labels background 0 and one class."""
    if not path.is_file():
        raise BenchmarkError(f"{path}: missing; an nnU-Net raw dataset needs its dataset.json")
    meta = _parse_json_object(path)
    ending = meta.get("file_ending")
    if not isinstance(ending, str) or ending.lower() not in NNUNET_FILE_ENDINGS:
        raise BenchmarkError(f"{path}: file_ending {ending!r}; angiobench reads 2-D "
                             f"{', '.join(NNUNET_FILE_ENDINGS)} nnU-Net datasets")
    channels = meta.get("channel_names", meta.get("modality"))
    if not isinstance(channels, dict) or len(channels) != 1:
        raise BenchmarkError(f"{path}: channel_names must list exactly one input channel, got {channels!r}")
    labels = meta.get("labels")
    if (not isinstance(labels, dict) or len(labels) != 2
            or sorted(v for v in labels.values() if isinstance(v, int)) != [0, 1]):
        raise BenchmarkError(f"{path}: labels must be background 0 and one vessel class 1, got {labels!r}")
    count = meta.get("numTraining")
    return NnunetMeta(ending.lower(), count if isinstance(count, int) else None)


def _nnunet_cases(folder: Path, ending: str, problems: list[str]) -> dict[str, Path]:
    """Case id → image file of an images folder: CASE_0000<ending>; other channels are a problem."""
    cases: dict[str, Path] = {}
    for path in list_images(folder):
        if not path.name.lower().endswith(ending):
            continue
        stem = path.name[: -len(ending)]
        case, channel = stem[:-5], stem[-5:]
        if len(stem) > 5 and channel == NNUNET_CHANNEL:
            cases[case] = path
        elif len(stem) > 5 and channel[0] == "_" and channel[1:].isdigit():
            problems.append(f"{path}: input channel {int(channel[1:])}; angiobench reads one channel (_0000)")
        else:
            problems.append(f"{path}: not named CASE_0000{ending} (nnU-Net's image naming)")
    return cases


def _nnunet_labels(folder: Path, ending: str) -> dict[str, Path]:
    return {p.name[: -len(ending)]: p for p in list_images(folder) if p.name.lower().endswith(ending)}


def _scan_nnunet(root: Path) -> DatasetScan:
    meta = read_nnunet_meta(root / "dataset.json")
    problems: list[str] = []
    notes: list[str] = [f"layout: nnU-Net raw, file ending {meta.file_ending}"]
    parts = [("train", root / "imagesTr", root / "labelsTr")]
    images_ts, labels_ts = root / "imagesTs", root / "labelsTs"
    if labels_ts.is_dir() and not images_ts.is_dir():
        problems.append(f"{labels_ts}: labels with no imagesTs/ folder")
    elif images_ts.is_dir() and labels_ts.is_dir():
        parts.append(("test", images_ts, labels_ts))
        notes.append("imagesTs/ + labelsTs/: the dataset's own test split (group 'test')")
    elif images_ts.is_dir():
        notes.append("imagesTs/ has no labelsTs/: not read (no masks)")
    stems: list[str] = []
    groups: list[str] = []
    image_files: list[Path] = []
    mask_files: list[Path] = []
    for group, image_dir, label_dir in parts:
        if not image_dir.is_dir() or not label_dir.is_dir():
            raise BenchmarkError(f"{root}: nnU-Net layout needs {image_dir.name}/ and {label_dir.name}/")
        cases = _nnunet_cases(image_dir, meta.file_ending, problems)
        labels = _nnunet_labels(label_dir, meta.file_ending)
        lonely = sorted((cases[c].name for c in cases if c not in labels), key=natural_key)
        if lonely:
            problems.append(f"{image_dir}: {len(lonely)} image(s) with no label in {label_dir}: {_listing(lonely)}")
        unmatched = sorted((labels[c].name for c in labels if c not in cases), key=natural_key)
        if unmatched:
            problems.append(f"{label_dir}: {len(unmatched)} label(s) with no image in {image_dir}: "
                            f"{_listing(unmatched)}")
        if group == "train" and meta.num_training is not None and meta.num_training != len(labels):
            problems.append(f"{root / 'dataset.json'}: numTraining is {meta.num_training} but "
                            f"{label_dir} holds {len(labels)} label(s)")
        for case in sorted((c for c in cases if c in labels), key=natural_key):
            stems.append(case)
            groups.append(group)
            image_files.append(cases[case])
            mask_files.append(labels[case])
    if not stems and not problems:
        raise BenchmarkError(f"{root / 'imagesTr'}: no image files")
    collide = any(count > 1 for count in Counter(stems).values())
    ids = [f"{g}_{s}" for g, s in zip(groups, stems)] if collide else stems
    hashed = [(p.relative_to(root).as_posix(), p) for p in [root / "dataset.json", *image_files, *mask_files]]
    dataset = LabelledDataset(ids=ids, loader=_FolderPairs(tuple(image_files), tuple(mask_files), float_images=True),
                              source=f"nnunet:{root}", fingerprint=fingerprint_files(hashed, "nnunet"),
                              groups=groups)
    return DatasetScan(dataset, "nnunet", problems, notes)


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
    scanners = {"arcade": _scan_arcade, "nnunet": _scan_nnunet, "folder": _scan_folder}
    return scanners[chosen](root)


def load_dataset(path: str | Path, format: str = "auto") -> LabelledDataset:
    """A lazily read labelled dataset ('folder', 'arcade', 'nnunet', or 'auto' to detect which).

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

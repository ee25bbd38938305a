"""Format 'folder': images and masks as datasets are downloaded.

Images in imgs/ or images/ (or the dataset folder itself), masks in masks/, labels/, gt/ or
groundtruth/, or beside the images (DCA1: `N.png` and `N_gt.png` in one folder); a mask is named
like its image or with a suffix (MASK_SUFFIXES). Two candidate masks for one image, or two layouts
in one folder, are errors naming the files, never a silent pick.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

from benchmark.data.dataset import LabelledDataset
from benchmark.data.images import list_images, natural_key
from benchmark.data.readers._files import by_stem, fingerprint_files, image_dir, listing, named_dir
from benchmark.data.readers._scan import DatasetScan, FilePairs
from benchmark.data.readers.registry import DatasetFormat
from benchmark.core.errors import BenchmarkError

MASK_DIRS = ("masks", "labels", "gt", "groundtruth")
#: Mask file name = image stem + one of these (or the image's own stem in a separate mask folder).
MASK_SUFFIXES = ("_gt", "_mask", "_label", "_seg", "_manual1")
SAME_STEM = "same stem"
LAYOUT = (f"imgs/ (or images/) with a mask folder ({', '.join(d + '/' for d in MASK_DIRS)}) or masks named "
          f"with a suffix ({', '.join(MASK_SUFFIXES)}) beside their images")


def split_suffix(stem: str) -> tuple[str, str] | None:
    """(image stem, suffix) when `stem` ends with a mask suffix (any case), else None."""
    for suffix in MASK_SUFFIXES:
        if stem.lower().endswith(suffix) and len(stem) > len(suffix):
            return stem[: -len(suffix)], suffix
    return None


def mask_candidates(stem: str, mask_stems: Collection[str], same_stem: bool = True) -> list[tuple[str, str]]:
    """(naming, mask stem) of each mask that could be image `stem`'s: its own stem (`same_stem`: when
    masks have a folder of their own) or the stem plus a mask suffix, in `mask_stems`' order."""
    candidates = [(SAME_STEM, stem)] if same_stem and stem in mask_stems else []
    return candidates + [(f"suffix '{mask_stem[len(stem):]}'", mask_stem) for mask_stem in mask_stems
                         if (split := split_suffix(mask_stem)) is not None and split[0] == stem]


def _has_suffixed_pairs(folder: Path) -> bool:
    """Whether some file of `folder` is named like a mask of another file there (DCA1: 1.png, 1_gt.png)."""
    stems = {p.stem for p in list_images(folder)}
    return any((split := split_suffix(stem)) is not None and split[0] in stems for stem in stems)


@dataclass(frozen=True)
class FolderLayout:
    """Where a folder dataset keeps its images and its masks (the same folder for DCA1's naming)."""

    images: Path
    masks: Path

    @property
    def shared(self) -> bool:
        return self.images == self.masks


def find_layout(root: Path) -> FolderLayout | None:
    """The image and mask folders of a folder dataset, None when `root` is not one; several
    candidates are an error naming them."""
    images, masks = image_dir(root), named_dir(root, MASK_DIRS, "mask")
    flat = _has_suffixed_pairs(root)
    if flat and (images or masks):
        other = ", ".join(p.name + "/" for p in (images, masks) if p)
        raise BenchmarkError(f"{root}: holds both images with suffixed masks beside them and {other}; "
                             "keep one layout")
    if flat:
        return FolderLayout(root, root)
    if images is None and masks is not None and list_images(root):
        images = root  # images in the dataset folder, masks in a sub-folder
    if images is not None and masks is None and _has_suffixed_pairs(images):
        masks = images
    if images is None or masks is None:
        return None
    return FolderLayout(images, masks)


@dataclass(frozen=True)
class _Matched:
    """Images paired with their masks, by stem, in natural order; the namings recognised."""

    stems: list[str]
    images: tuple[Path, ...]
    masks: tuple[Path, ...]
    namings: Counter


def _match(images: dict[str, Path], masks: dict[str, Path], layout: FolderLayout, problems: list[str]) -> _Matched:
    """Each image's mask (`mask_candidates`). Two candidates for one image are a problem naming
    both; so is anything unpaired."""
    namings: Counter[str] = Counter()
    paired: dict[str, Path] = {}
    used: set[str] = set()
    lonely: list[str] = []
    for stem, image in images.items():
        candidates = mask_candidates(stem, masks, same_stem=not layout.shared)
        if len(candidates) > 1:
            problems.append(f"{image}: several candidate masks: "
                            f"{listing(masks[c].name for _, c in candidates)}; keep one")
            used.update(c for _, c in candidates)
        elif candidates:
            naming, mask_stem = candidates[0]
            namings[naming] += 1
            paired[stem] = masks[mask_stem]
            used.add(mask_stem)
        else:
            lonely.append(image.name)
    if lonely:
        problems.append(f"{layout.images}: {len(lonely)} image(s) with no mask in {layout.masks}: {listing(lonely)}")
    lonely_masks = [masks[s].name for s in masks if s not in used]
    if lonely_masks:
        problems.append(f"{layout.masks}: {len(lonely_masks)} mask(s) with no image in {layout.images}: "
                        f"{listing(lonely_masks)}")
    stems = sorted(paired, key=natural_key)
    return _Matched(stems, tuple(images[s] for s in stems), tuple(paired[s] for s in stems), namings)


def _shown(root: Path, folder: Path) -> str:
    return "the dataset folder" if folder == root else folder.relative_to(root).as_posix() + "/"


def scan(root: Path) -> DatasetScan:
    layout = find_layout(root)
    if layout is None:
        raise BenchmarkError(f"{root}: not a folder dataset; expected {LAYOUT}")
    problems: list[str] = []
    files = by_stem(list_images(layout.images), problems)
    if layout.shared:
        masks = {stem: path for stem, path in files.items() if split_suffix(stem) is not None}
        images = {stem: path for stem, path in files.items() if stem not in masks}
    else:
        images, masks = files, by_stem(list_images(layout.masks), problems)
    if not images:
        raise BenchmarkError(f"{layout.images}: no image files")
    matched = _match(images, masks, layout, problems)
    pairs = FilePairs(matched.images, matched.masks)
    hashed = [(p.relative_to(root).as_posix(), p) for p in pairs.images + pairs.masks]
    dataset = LabelledDataset(ids=matched.stems, loader=pairs, source=f"folder:{root}",
                              fingerprint=fingerprint_files(hashed, "folder"))
    where = (f"images and masks in {_shown(root, layout.images)}" if layout.shared
             else f"images in {_shown(root, layout.images)}, masks in {_shown(root, layout.masks)}")
    naming = ", ".join(f"{n} ({k})" for n, k in matched.namings.most_common()) or "none matched"
    return DatasetScan(dataset, "folder", problems, [f"layout: {where}", f"mask names: {naming}"])


FORMAT = DatasetFormat(name="folder", layout=LAYOUT, detect=lambda root: find_layout(root) is not None, scan=scan)

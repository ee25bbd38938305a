"""A pre-training pool: a folder of images with no masks, in no dataset format."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmark.data.dataset import UnlabelledDataset
from benchmark.data.images import list_images, natural_key, read_image
from benchmark.data.readers._files import by_stem, existing_folder, fingerprint_files, image_dir
from benchmark.core.errors import BenchmarkError


@dataclass(frozen=True)
class _ImageFiles:
    """Picklable loader for an unlabelled pool."""

    paths: tuple[Path, ...]

    def __call__(self, index: int) -> np.ndarray:
        return read_image(self.paths[index])


def load_unlabelled(path: str | Path) -> UnlabelledDataset:
    """Images with no masks (in imgs/ or images/, else directly in the folder): a pre-training pool."""
    root = existing_folder(path)
    folder = image_dir(root) or root
    problems: list[str] = []
    files = by_stem(list_images(folder), problems)
    if problems:
        raise BenchmarkError(problems[0])
    if not files:
        raise BenchmarkError(f"{folder}: no image files")
    stems = sorted(files, key=natural_key)
    paths = tuple(files[s] for s in stems)
    hashed = [(p.relative_to(root).as_posix(), p) for p in paths]
    return UnlabelledDataset(ids=stems, loader=_ImageFiles(paths), source=f"unlabelled:{root}",
                             fingerprint=fingerprint_files(hashed, "unlabelled"))

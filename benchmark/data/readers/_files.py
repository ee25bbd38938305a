"""The file handling every reader shares: the dataset folder, files keyed by stem, named
sub-folders, the content fingerprint and JSON files, each failure a BenchmarkError naming the path."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Iterable

from benchmark.core.errors import BenchmarkError

IMAGE_DIRS = ("imgs", "images")
SHOWN_NAMES = 5


def listing(names: Iterable[str]) -> str:
    """The first few names, and how many there are in all when some are left out."""
    names = list(names)
    more = f", … ({len(names)} in all)" if len(names) > SHOWN_NAMES else ""
    return ", ".join(names[:SHOWN_NAMES]) + more


def existing_folder(path: str | Path) -> Path:
    """The dataset folder, refusing a missing path or a file."""
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


def by_stem(files: list[Path], problems: list[str]) -> dict[str, Path]:
    """Files keyed by stem; two files with one stem (a.png, a.jpg) are ambiguous and reported."""
    groups: dict[str, list[Path]] = {}
    for path in files:
        groups.setdefault(path.stem, []).append(path)
    for stem, paths in groups.items():
        if len(paths) > 1:
            problems.append(f"{paths[0].parent}: several files with stem '{stem}': "
                            f"{listing(p.name for p in paths)}")
    return {stem: paths[0] for stem, paths in groups.items() if len(paths) == 1}


def named_dir(root: Path, names: tuple[str, ...], what: str) -> Path | None:
    """The one sub-folder of `root` whose name (any case) is in `names`; two of them are an error."""
    present = sorted(p for p in root.iterdir() if p.is_dir() and p.name.lower() in names)
    if len(present) > 1:
        raise BenchmarkError(f"{root}: several {what} folders ({', '.join(p.name + '/' for p in present)}); "
                             "keep one")
    return present[0] if present else None


def image_dir(root: Path) -> Path | None:
    """The images/ (or imgs/) folder of `root`, if it has one."""
    return named_dir(root, IMAGE_DIRS, "image")


def parse_json_object(path: Path) -> dict:
    """A JSON file holding one object; unreadable, invalid or other JSON is an error naming the file."""
    try:
        payload = json.loads(path.read_bytes())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BenchmarkError(f"{path}: not valid JSON ({exc})") from exc
    except OSError as exc:
        raise BenchmarkError(f"{path}: cannot read file ({exc})") from exc
    if not isinstance(payload, dict):
        raise BenchmarkError(f"{path}: expected a JSON object")
    return payload

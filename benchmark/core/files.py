"""One way to write a file: to a temporary name, fsync, rename into place.

A killed process then leaves either the old file or the new one, never half of one; the run store,
the config and the splits all write through here. And one way to read a TOML file, whose errors
name the option that gave it.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import tomllib
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

if TYPE_CHECKING:  # only for the hint: writing bytes, text or JSON need not import pandas
    import pandas as pd

from benchmark.core.errors import BenchmarkError


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        tmp.replace(path)
    except BaseException:  # a full disk (ENOSPC) or a kill: the old file stays, no partial one is left
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def atomic_write_json(path: Path, payload: Any) -> None:
    atomic_write_text(path, json.dumps(payload, indent=1, default=str))


def atomic_write_parquet(path: Path, frame: pd.DataFrame) -> None:
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    atomic_write_bytes(path, buffer.getvalue())


def holds_a_file(folder: Path | str) -> bool:
    """Whether `folder` or any folder under it holds a file, following symbolic links (a dataset whose
    splits are links to another disk is not empty; `Path.rglob` does not follow them before Python
    3.13). Each real folder is visited once, so a link loop ends."""
    seen: set[str] = set()
    for root, folders, files in os.walk(folder, followlinks=True):
        real = os.path.realpath(root)
        if real in seen:
            folders[:] = []
            continue
        seen.add(real)
        if any(os.path.isfile(os.path.join(root, name)) for name in files):
            return True
    return False


def shareable(folder: Path) -> None:
    """Files 0644 and folders 0755 under `folder`: atomic writes go through mkstemp (0600), and an
    export or a set of predictions is read by other users (a shared model folder, a web server)."""
    for path in folder.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)
    folder.chmod(0o755)


@contextmanager
def staged_folder(out: Path | str) -> Iterator[Path]:
    """A temporary sibling of `out` to write a whole folder into; renamed to `out` when the block
    ends without error and removed otherwise, so a failed write leaves no `out` behind.

    `out` must not exist or be an empty folder (an export never overwrites another one). What it
    holds is meant to be handed on, so it ends readable by others (see `shareable`).
    """
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise BenchmarkError(f"{out}: exists and is not an empty folder; choose a new one")
    staging = out.with_name(f".{out.name}.partial-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        yield staging
        shareable(staging)
        if out.exists():
            out.rmdir()  # empty, checked above
        staging.rename(out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def read_toml(path: Path, option: str = "--config") -> dict[str, Any]:
    """A TOML file's table; a missing or unparsable file is an error naming `option` and the file."""
    try:
        return tomllib.loads(Path(path).read_text())
    except FileNotFoundError:
        raise BenchmarkError(f"{option} {path}: no such file") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise BenchmarkError(f"{option} {path}: does not parse as TOML ({error})") from None

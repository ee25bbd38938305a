"""A run as it was asked for, fingerprinted without the training stack: the option table (the
config file's values with the command line's on top, before the methods fill in their defaults),
the harness's own source, and a stamp of the files under every path the table names (their names,
sizes and modification times).

A run folder records this digest beside the job keys its plan made (RUN_DIR/plan.json), so that
the same command again, on a folder whose jobs are all done, is answered from the folder alone
(about a second) instead of importing torch and the methods to plan again. Anything that could
change a job's key changes the digest: an option, a file's value, the code (a method's default,
a recipe, HARNESS_VERSION), a data file touched, the working folder relative paths are read from.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from benchmark.data.external import parse_external_tests

#: The packages whose source decides what a job does.
SOURCE_PACKAGES = ("benchmark", "methods")
HARNESS_ROOT = Path(__file__).resolve().parents[2]
RESULTS = Path("results")


@dataclass(frozen=True)
class RunRequest:
    table: dict[str, Any]  # what benchmark.config.run_config.build_config turns into a RunConfig
    where: str  # the config file's name, or "options": what errors name
    note: str  # what `--profile auto` chose, and why

    @property
    def source(self) -> str:
        return str(self.table.get("data", {}).get("source", "synthetic"))

    def default_run_dir(self) -> Path:
        return default_run_dir(self.source, self.table["profile"])

    def named_paths(self) -> list[str]:
        """Every file or folder the table names: the dataset, the unlabelled pool, the external test
        sets, the imported weights."""
        data = self.table.get("data", {})
        paths = [self.source] if self.source != "synthetic" else []
        paths += [str(data["unlabelled"])] if data.get("unlabelled") else []
        tests = parse_external_tests(list(data.get("external_tests", [])), self.source, must_exist=False)
        paths += [str(test.path) for test in tests]
        return paths + [str(path) for path in self.table.get("pretrained", {}).values()]

    def digest(self) -> str:
        """What makes two requests plan the same jobs, as one hash."""
        described = {"table": self.table, "cwd": os.getcwd(), "host": platform.node(),
                     "source": source_digest(), "files": {p: files_stamp(Path(p)) for p in self.named_paths()}}
        return hashlib.sha256(json.dumps(described, sort_keys=True, default=str).encode()).hexdigest()


def default_run_dir(source: str, profile: str) -> Path:
    """results/<source>-<profile>: one folder per data source and profile."""
    name = "synthetic" if source == "synthetic" else Path(source).resolve().name
    return RESULTS / f"{name}-{profile}"


@lru_cache(maxsize=4)
def source_digest(root: Path = HARNESS_ROOT) -> str:
    """A hash of every Python file of the harness and its methods under `root` (their paths and contents)."""
    digest = hashlib.sha256()
    for package in SOURCE_PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def files_stamp(path: Path) -> list[tuple[str, int, int]] | str:
    """(relative name, size, modification time in ns) of the file, or of every file under the folder
    (links followed, as the readers follow them); "missing" when there is nothing there."""
    if path.is_file():
        stat = path.stat()
        return [(path.name, stat.st_size, stat.st_mtime_ns)]
    if not path.is_dir():
        return "missing"
    found = []
    for folder, dirs, files in os.walk(path, followlinks=True):
        dirs.sort()
        for name in sorted(files):
            stat = (Path(folder) / name).stat()
            found.append((str((Path(folder) / name).relative_to(path)), stat.st_size, stat.st_mtime_ns))
    return found

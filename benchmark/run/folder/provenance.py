"""Where a result came from: code and package versions (the device: benchmark.train.hardware)."""

from __future__ import annotations

import platform
import subprocess
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

import benchmark


@lru_cache(maxsize=1)
def git_commit() -> str:
    """The commit of the harness's source tree, with '+dirty' when it has local changes."""
    root = Path(benchmark.__file__).resolve().parent.parent
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True,
                             timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return sha + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def versions() -> str:
    return f"angiobench {benchmark.__version__}; torch {torch.__version__}; numpy {np.__version__}; python {platform.python_version()}"


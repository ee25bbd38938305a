"""Where a result came from: code and package versions (the device: benchmark.train.hardware)."""

from __future__ import annotations

import platform
import subprocess
from functools import lru_cache
from importlib.metadata import version
from pathlib import Path

import numpy as np
import torch

#: The harness's source tree: the checkout whose commit a result names.
SOURCE_ROOT = Path(__file__).resolve().parents[3]


@lru_cache(maxsize=1)
def git_commit() -> str:
    """The commit of the harness's source tree, with '+dirty' when it has local changes."""
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=SOURCE_ROOT, capture_output=True, text=True,
                             timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=SOURCE_ROOT,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return sha + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def versions() -> str:
    return f"angiobench {version('angiobench')}; torch {torch.__version__}; numpy {np.__version__}; python {platform.python_version()}"


"""The progress callback every long library call accepts; the CLI turns it into a bar."""

from __future__ import annotations

from typing import Callable

#: progress(done, total, message); library callers may pass None.
Progress = Callable[[int, int, str], None]

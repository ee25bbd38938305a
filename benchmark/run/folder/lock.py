"""One run per folder: a second `angiobench run` (or `finetune`, `calibrate`) on a folder in use is
refused, naming the holder, instead of two processes writing the same jobs.

The lock is an `fcntl.flock` on a file beside the run folder (`.NAME.lock`, so a start that fails
before the folder is made still leaves no folder). The kernel drops it when its process dies, so a
lock left by a killed run is simply taken over; the holder's PID, host and start time are written
into the file only to name it in the refusal. Readers (`report`, `status`) never take it.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from benchmark.core.errors import BenchmarkError


def lock_path(run_dir: Path | str) -> Path:
    root = Path(run_dir).absolute()
    return root.with_name(f".{root.name}.lock")


def _describe_holder(path: Path) -> str:
    try:
        holder = json.loads(path.read_text())
        started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(float(holder["started"])))
        return f"PID {int(holder['pid'])} on host {holder['host']}, since {started}"
    except (OSError, ValueError, KeyError, TypeError):
        return "a process that has not written its name yet"


def _open_locked(path: Path) -> int:
    """An open descriptor of `path` holding its lock; refuses at once when another process holds it.

    Loops only for the race where the holder removes the file between our open and our lock: the
    lock must be on the file that is at `path` now."""
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise BenchmarkError(f"{path.with_name(path.name[1:-5])} is in use by another angiobench run "
                                 f"({_describe_holder(path)}); wait for it to end, or choose another --out") from None
        try:
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if same:
            return fd
        os.close(fd)


@contextmanager
def run_lock(run_dir: Path | str) -> Iterator[None]:
    """Hold the folder's lock for the block; the lock file is removed on the way out."""
    path = lock_path(run_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = _open_locked(path)
    try:
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "started": time.time()}).encode())
        yield
    finally:
        try:
            path.unlink()
        except FileNotFoundError:
            pass
        os.close(fd)

"""Fault injection for tests/test_faults.py, in every Python process of a run (driver and workers).

With this folder on PYTHONPATH and ANGIOBENCH_TEST_KILL = "module:attr@N" (attr may be
"Class.method"; "@N+" kills right after the N-th call returns, "@N" right before it), the N-th call of
that function across all processes of the run SIGKILLs the run's whole process group: what a power
cut or the OOM killer does. Calls are counted in the file ANGIOBENCH_TEST_KILL_COUNTER (under a lock).
The function is patched when its module is first imported, before any other module binds it, so
`from module import attr` elsewhere gets the patched one. Nothing of the harness knows of this.
"""

from __future__ import annotations

import fcntl
import functools
import importlib.abc
import importlib.util
import os
import re
import signal
import sys

SPEC = os.environ.get("ANGIOBENCH_TEST_KILL", "")
COUNTER = os.environ.get("ANGIOBENCH_TEST_KILL_COUNTER", "")


def _count() -> int:
    with open(COUNTER, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        handle.seek(0)
        calls = int(handle.read() or 0) + 1
        handle.seek(0)
        handle.truncate()
        handle.write(str(calls))
        return calls


def _kill() -> None:
    os.killpg(os.getpgrp(), signal.SIGKILL)


def _wrap(function, at: int, after: bool):
    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        calls = _count()
        if calls == at and not after:
            _kill()
        result = function(*args, **kwargs)
        if calls == at and after:
            _kill()
        return result

    return wrapper


def _patch(module, attr: str, at: int, after: bool) -> None:
    owner_path, _, name = attr.rpartition(".")
    owner = module
    for part in filter(None, owner_path.split(".")):
        owner = getattr(owner, part)
    setattr(owner, name, _wrap(getattr(owner, name), at, after))


class _PatchOnImport(importlib.abc.MetaPathFinder):
    def __init__(self, module: str, attr: str, at: int, after: bool) -> None:
        self.module, self.attr, self.at, self.after = module, attr, at, after

    def find_spec(self, name, path, target=None):
        if name != self.module:
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        exec_module = spec.loader.exec_module

        def exec_and_patch(module):
            exec_module(module)
            _patch(module, self.attr, self.at, self.after)

        spec.loader.exec_module = exec_and_patch
        return spec


if SPEC and COUNTER:
    match = re.fullmatch(r"([\w.]+):([\w.]+)@(\d+)(\+?)", SPEC)
    if not match:
        raise SystemExit(f"ANGIOBENCH_TEST_KILL={SPEC!r}: expected module:attr@N or module:attr@N+")
    sys.meta_path.insert(0, _PatchOnImport(match[1], match[2], int(match[3]), bool(match[4])))

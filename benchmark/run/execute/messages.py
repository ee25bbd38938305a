"""What a worker process tells its executor, one JSON object a line on its stdout: a job's progress,
that it no longer needs the device, and (for a persistent worker) that a job finished with an exit
code. Both sides use `encode` and `decode`, so the format is defined here only."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Union


@dataclass(frozen=True)
class ProgressMessage:
    done: int
    total: int
    message: str


@dataclass(frozen=True)
class ReleaseMessage:
    """The job's device work is over (its CPU-side metrics go on): the slot may take the next job."""

    release: bool = True


@dataclass(frozen=True)
class FinishedMessage:
    """A persistent worker finished job `finished` (its status.json says how); code 0 or 1."""

    finished: str
    code: int


Message = Union[ProgressMessage, ReleaseMessage, FinishedMessage]
#: Each message is told apart by the field only it has.
_BY_FIELD: dict[str, type] = {"done": ProgressMessage, "release": ReleaseMessage, "finished": FinishedMessage}


def encode(message: Message) -> str:
    """One line (no newline) holding `message`."""
    return json.dumps(dataclasses.asdict(message))


def decode(line: str) -> Message | None:
    """The message a line holds; None for anything else a worker prints (a library's warning)."""
    try:
        table = json.loads(line)
    except ValueError:
        return None
    if not isinstance(table, dict):
        return None
    for name, cls in _BY_FIELD.items():
        if name in table:
            try:
                return cls(**table)
            except TypeError:
                return None
    return None

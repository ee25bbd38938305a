"""Text the commands read and write: comma-separated option values (the one way every command
reads them), the hint that follows an unknown name, what a name the user gives a thing may look
like, and durations as people read them."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable

#: A name the user gives an external test set or imported weights (`NAME=PATH`): it becomes a value
#: of the rows and part of job keys and file names, so letters, digits, '.', '_' and '-' only.
USABLE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def split_csv(text: str | None) -> list[str] | None:
    """'a, b,,c' → ['a', 'b', 'c']; None stays None (the option was not given)."""
    return [t.strip() for t in text.split(",") if t.strip()] if text is not None else None


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """' (did you mean 'mae'?)' for the closest known name, or '' when none is close."""
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def duration_text(seconds: float) -> str:
    """'45 s', '4 min', '2 h 05 min'."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    minutes = round(seconds / 60)
    return f"{minutes} min" if minutes < 60 else f"{minutes // 60} h {minutes % 60:02d} min"

"""Parsing of comma-separated option values, the one way every command reads them."""

from __future__ import annotations


def split_csv(text: str | None) -> list[str] | None:
    """'a, b,,c' → ['a', 'b', 'c']; None stays None (the option was not given)."""
    return [t.strip() for t in text.split(",") if t.strip()] if text is not None else None

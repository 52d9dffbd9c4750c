"""Lists for people: a header row and columns aligned under it."""

from __future__ import annotations

from collections.abc import Sequence


def format_table(header: Sequence[str], rows: Sequence[Sequence[str]], empty: str) -> str:
    """`rows` under `header`, each column as wide as its widest cell; `empty` when there are no rows."""
    if not rows:
        return empty
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows, strict=True)]
    lines = [
        "  ".join(str(cell).ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip() for line in [header, *rows]
    ]
    return "\n".join(lines)

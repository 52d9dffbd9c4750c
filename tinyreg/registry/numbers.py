"""Counts written by clients (Content-Length, page sizes): ASCII decimal digits only (pure).

`str.isdigit()` and `int()` each take more than ASCII digits, and not the same more: `"²"`
is a digit that `int()` refuses, `"٣"` one it reads as 3, and past 4300 digits `int()`
refuses everything. Client text is checked here before it is read as a number.
"""

from __future__ import annotations

import re

#: More digits than any size this registry handles (2**63 has 19).
MAX_DIGITS = 19
_DIGITS_RE = re.compile(r"[0-9]+", re.ASCII)


def parse_count(text: str, *, cap: int | None = None) -> int | None:
    """The non-negative integer `text` writes in ASCII digits, or None if it is anything else.

    With a `cap` (a limit such as a page size) the count is at most `cap`, however many digits
    it has; without one, a number of more than MAX_DIGITS digits is None.
    """
    if _DIGITS_RE.fullmatch(text) is None:
        return None
    significant = text.lstrip("0") or "0"
    if len(significant) > MAX_DIGITS:
        return cap
    value = int(significant)
    return value if cap is None else min(value, cap)

"""HTTP range grammar for chunked uploads and partial blob reads (pure)."""

from __future__ import annotations

import re

from tinyreg.registry.errors import RegistryError
from tinyreg.registry.numbers import MAX_DIGITS, parse_count

_CONTENT_RANGE_RE = re.compile(r"(?:bytes[ =])?([0-9]+)-([0-9]+)(?:/(?:[0-9]+|\*))?", re.ASCII)
_RANGE_RE = re.compile(r"bytes=([0-9]*)-([0-9]*)", re.ASCII)
#: Larger than any blob or upload: an offset of more digits than a size can have reads as this.
_BEYOND_ANY_SIZE = 10**MAX_DIGITS


def _offset(digits: str) -> int:
    """A byte offset of a range; int() alone would raise past 4300 digits."""
    return parse_count(digits, cap=_BEYOND_ANY_SIZE) or 0


def parse_content_range(value: str) -> tuple[int, int]:
    """Parse an upload chunk's `Content-Range: <start>-<end>` (inclusive); 416 if malformed."""
    match = _CONTENT_RANGE_RE.fullmatch(value.strip())
    if match is None:
        raise RegistryError("RANGE_INVALID", f"malformed Content-Range {value[:100]!r}")
    start, end = _offset(match.group(1)), _offset(match.group(2))
    if end < start:
        raise RegistryError("RANGE_INVALID", f"Content-Range {value[:100]!r} ends before it starts")
    return start, end


def check_chunk_start(content_range: str | None, current_size: int, content_length: int | None) -> int | None:
    """Check that a chunk continues the upload where it stands.

    Returns how many bytes the chunk must hold when the range says so (None when unknown).
    A chunk that does not start at the current size is out of order: RANGE_INVALID (416).
    """
    if content_range is None:
        return content_length
    start, end = parse_content_range(content_range)
    if start != current_size:
        raise RegistryError(
            "RANGE_INVALID",
            f"chunk starts at {start} but the upload holds {current_size} bytes",
            headers={"Range": upload_range(current_size)},
        )
    expected = end - start + 1
    if content_length is not None and content_length != expected:
        raise RegistryError("SIZE_INVALID", f"Content-Length {content_length} does not match Content-Range {content_range!r}")
    return expected


def upload_range(size: int) -> str:
    """The `Range` header of an upload holding `size` bytes: `0-<last byte>` (`0-0` when empty)."""
    return f"0-{max(size - 1, 0)}"


def parse_range(value: str, size: int) -> tuple[int, int] | None:
    """Parse a blob `Range` request against a blob of `size` bytes.

    Returns the inclusive (start, end) to send, or None to send the whole blob (a header we
    do not understand is ignored, as HTTP allows). Unsatisfiable ranges raise RANGE_INVALID.
    """
    match = _RANGE_RE.fullmatch(value.strip())
    if match is None:
        return None
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:
        suffix = _offset(last)
        if suffix == 0 or size == 0:
            raise _unsatisfiable(size)
        return max(size - suffix, 0), size - 1
    start = _offset(first)
    if start >= size:
        raise _unsatisfiable(size)
    end = _offset(last) if last else size - 1
    if end < start:
        return None
    return start, min(end, size - 1)


def _unsatisfiable(size: int) -> RegistryError:
    return RegistryError("RANGE_INVALID", "requested range not satisfiable", headers={"Content-Range": f"bytes */{size}"})

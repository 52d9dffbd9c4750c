"""Registry usage and size limits: the arithmetic (pure).

Usage is counted the GitLab way: a project's size is the sum of the sizes of the distinct
digests its manifests reference (layers, configs, and the manifests' own bytes, child manifests
of an index included as manifests of their own), each digest once however many images share
it. The same rule gives a repository's size. The store keeps, per owner, how many manifests
reference each digest (`UsageRef`) and the total; a manifest put or delete changes a few counts
and the total by what `apply_manifest` says, so nothing is ever scanned to know a size.

Sizes people write are decimal or binary: `10GB` is 10**10 bytes, `5GiB` 5 * 2**30, `none` no limit.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from tinyreg.storage.interfaces import UsageRef

#: Multipliers of the size units, lower-cased; a bare number is bytes.
UNITS = {
    "": 1,
    "b": 1,
    "kb": 10**3,
    "mb": 10**6,
    "gb": 10**9,
    "tb": 10**12,
    "kib": 2**10,
    "mib": 2**20,
    "gib": 2**30,
    "tib": 2**40,
}
SIZE_SYNTAX = "a size such as 500MB, 10GB, 5GiB or 1048576 (bytes), or none"
_SIZE_RE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*")
#: A warning is logged when a push takes a project's usage across this share of its limit.
WARNING_SHARE = 0.9


def parse_size(text: str) -> int | None:
    """Bytes of a size written by a person (None for `none`); ValueError naming the syntax otherwise."""
    if text.strip().lower() in ("none", "unlimited"):
        return None
    match = _SIZE_RE.fullmatch(text)
    unit = UNITS.get(match.group(2).lower()) if match else None
    if match is None or unit is None:
        raise ValueError(f"{text!r} is not a size: expected {SIZE_SYNTAX}")
    return int(float(match.group(1)) * unit) if "." in match.group(1) else int(match.group(1)) * unit


def human_size(size: int) -> str:
    """A size for people, in decimal units with at most one decimal: `9.8 GB`, `512 MB`, `10 GB`."""
    value = float(size)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if value < 999.95 or unit == "TB":
            break
        value /= 1000
    if unit == "B":
        return f"{size} B"
    text = f"{value:.1f}".removesuffix(".0") if value < 100 else f"{value:.0f}"
    return f"{text} {unit}"


def manifest_contribution(digest: str, size: int, blob_sizes: Mapping[str, int]) -> dict[str, int]:
    """The digests one manifest makes its owner use, with their sizes: its own bytes and its blobs.
    Child manifests of an index are not here: each is a manifest of the repository, counted on its own."""
    return {**blob_sizes, digest: size}


def blob_refs(row: Mapping[str, Any]) -> list[str] | None:
    """The blob digests of a stored manifest row (`refs` lists blobs, then child manifests); None
    for rows written before the number of children was kept (the caller parses their bytes)."""
    children = row.get("children")
    if children is None:
        return None
    refs = list(row["refs"])
    return refs[: len(refs) - children]


def apply_manifest(
    current: Mapping[str, UsageRef | None], contribution: Mapping[str, int], step: int
) -> tuple[dict[str, UsageRef | None], int]:
    """Add (`step` 1) or remove (`step` -1) one manifest's `contribution` to an owner's counts.

    `current` holds the owner's count of each digest of the contribution (None: not counted).
    Returns the new counts (None: no longer counted) and by how many bytes the owner's total
    changes: a digest's size counts when its count leaves or reaches zero only.
    """
    changes: dict[str, UsageRef | None] = {}
    delta = 0
    for digest, size in contribution.items():
        ref = current.get(digest)
        count = (ref.manifests if ref else 0) + step
        if count <= 0:
            changes[digest] = None
            if ref is not None:
                delta -= ref.size  # the size counted when it was added, whatever the caller says now
        elif ref is None:
            changes[digest] = UsageRef(count, size)
            delta += size
        else:
            changes[digest] = UsageRef(count, ref.size)
    return changes, delta


def effective_limit(project_row: Mapping[str, Any] | None, default: int | None) -> int | None:
    """A project's size limit: its own (`size_limit`, None meaning none) if set, else the default."""
    if project_row is not None and "size_limit" in project_row:
        limit = project_row["size_limit"]
        return None if limit is None else int(limit)
    return default


def over_limit(used: int, adding: int, limit: int | None) -> bool:
    """Whether adding `adding` bytes to `used` goes over `limit`; adding nothing never does, so
    re-tagging, deleting and pulling keep working over the limit."""
    return limit is not None and adding > 0 and used + adding > limit


def refusal_message(project: str, used: int, limit: int, adding: int) -> str:
    """Why a push is refused, with the numbers and the way out."""
    return (
        f"project {project} is over its size limit: {human_size(used)} used of {human_size(limit)}, "
        f"this push would add {human_size(adding)}; delete images or ask an admin to raise the limit"
    )


def crosses_warning(before: int, after: int, limit: int | None) -> bool:
    """Whether growing from `before` to `after` bytes crosses `WARNING_SHARE` of `limit`."""
    return limit is not None and limit > 0 and before < WARNING_SHARE * limit <= after


def percent(used: int, limit: int | None) -> float | None:
    """Usage as a percentage of the limit (None without a limit)."""
    if limit is None:
        return None
    return 100.0 if limit == 0 and used else (100.0 * used / limit if limit else 0.0)

"""The old paths of moved projects and repositories: read-only aliases for a grace period.

After a move, the old name of each repository answers pulls for `move_alias_days` (the
setting; 0: no alias), so deployments that still name it keep working while their references
are updated. Anything that would write under the old name is refused with DENIED naming the
new one: a push there would otherwise land in a repository nobody sees any more. An alias in
force also keeps its path from being taken by a new project or repository; once expired (or
removed) the path is free again. The rules are pure; `refuse_if_moved` reads one row.
"""

from __future__ import annotations

import time

from tinyreg.registry.errors import RegistryError
from tinyreg.storage.interfaces import AliasRow, MetaReader

DAY = 86_400.0
DEFAULT_DAYS = 30


def new_alias(kind: str, target: str, now: float, days: float) -> AliasRow | None:
    """The alias of an old path moved to `target`, in force for `days` (None: aliases are off)."""
    if days <= 0:
        return None
    return {
        "kind": "project" if kind == "project" else "repository",
        "target": target,
        "created": now,
        "expires": now + days * DAY,
    }


def in_force(row: AliasRow | None, now: float) -> bool:
    return row is not None and row["expires"] > now


def until(row: AliasRow) -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(row["expires"]))


def active_alias(tx: MetaReader, path: str, now: float | None = None) -> AliasRow | None:
    """The alias of `path` if it is in force, else None (an expired row is as good as none)."""
    row = tx.alias(path)
    return row if in_force(row, time.time() if now is None else now) else None


def push_refusal(old: str, row: AliasRow) -> str:
    """Why a write under a moved repository's old name is refused."""
    return f"repository {old} moved to {row['target']}: push to {row['target']} ({old} only answers pulls until {until(row)})"


def upload_cancelled(old: str, new: str) -> str:
    """What a client continuing an upload of a repository that moved meanwhile is told."""
    return f"the upload was cancelled: repository {old} moved to {new}; start the upload again at {new}"


def refuse_if_moved(tx: MetaReader, repo: str) -> None:
    """DENIED when `repo` is the old name of a moved repository (inside a unit of work that would
    write under it: a push racing the move lands nowhere, rather than under a name nobody uses)."""
    row = active_alias(tx, repo)
    if row is not None:
        raise RegistryError("DENIED", push_refusal(repo, row), detail={"name": repo, "moved_to": row["target"]})

"""Whether a project or repository move may happen, as pure functions of what it would touch.

The caller gathers the facts in one unit of work (`tinyreg.access.moves`); these functions say
why the move is refused, in words for a person, or None. The first reason found is given, in
this order: the new path's syntax, the caller's rights, the source, what occupies the target,
names the move would break, and signed schema 1 manifests (whose row holds the repository's
own copy of the bytes, signed for that repository's name).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from tinyreg.access.paths import MAX_IMAGE_DEPTH, NAMING_RULE
from tinyreg.registry.names import NAME_MAX_LENGTH, name_fault

#: How many names a refusal lists before it only counts them.
LISTED = 5


def is_rights_refusal(refusal: str) -> bool:
    """Whether a refusal is about the caller's rights (the API answers it 403, the others 400)."""
    return refusal.startswith("moving ")


def renamed(repo: str, old: str, new: str) -> str:
    """The name of `repo` (`old` or below it) once `old` is called `new`."""
    return new + repo[len(old) :]


def _listed(names: Sequence[str]) -> str:
    more = f" and {len(names) - LISTED} more" if len(names) > LISTED else ""
    return ", ".join(names[:LISTED]) + more


@dataclass(frozen=True)
class ProjectMove:
    """What a project move would do, as found in the store."""

    old: str
    new: str
    allowed: bool  # the policy's answer for the caller
    exists: bool = True
    occupied: str | None = None  # what holds the new path already, in words
    repositories: Sequence[str] = ()  # the project's repositories (old names)
    blocked: Sequence[str] = ()  # new repository names an alias in force still holds
    signed: Sequence[str] = ()  # repositories holding signed schema 1 manifests


def project_move_refusal(move: ProjectMove) -> str | None:
    fault = name_fault(move.new, "project path")
    if fault is not None:
        return f"invalid project path {move.new[:300]!r}: {fault}"
    if not move.exists:
        return f"no project {move.old}"
    if not move.allowed:
        return f"moving project {move.old} to {move.new} needs the maintainer role in the project and where it goes (or an admin)"
    if move.new == move.old:
        return f"project {move.old} is already at {move.new}"
    if move.new.startswith(move.old + "/"):
        return f"project {move.old} cannot move below itself ({move.new})"
    if move.occupied is not None:
        return f"cannot move project {move.old} to {move.new}: {move.occupied}"
    too_long = [
        renamed(r, move.old, move.new) for r in move.repositories if len(renamed(r, move.old, move.new)) > NAME_MAX_LENGTH
    ]
    if too_long:
        return f"cannot move project {move.old} to {move.new}: repository names would exceed {NAME_MAX_LENGTH} characters: {_listed(too_long)}"
    if move.blocked:
        return (
            f"cannot move project {move.old} to {move.new}: the old names of moved repositories still answer at "
            f"{_listed(move.blocked)}; remove those aliases first (tinyreg project alias remove PATH)"
        )
    if move.signed:
        return signed_refusal("project " + move.old, move.signed)
    return None


def signed_refusal(what: str, repos: Sequence[str]) -> str:
    return (
        f"cannot move {what}: {_listed(repos)} hold signed schema 1 manifests, which keep their own copy "
        "signed for the repository's name; delete them (or push the images again as schema 2 or OCI) first"
    )


@dataclass(frozen=True)
class RepositoryMove:
    """What a repository move would do, as found in the store."""

    old: str
    new: str
    allowed: bool
    exists: bool = True
    source_project: str | None = None
    target_project: str | None = None  # the project that would own `new` (None: none would)
    nearest_target: str | None = None  # the longest project path prefixing `new`, however deep
    occupied: str | None = None
    signed: bool = False
    depth_rule: bool = True  # projects exist: a name must fall within one (open registries without any do not)


def repository_move_refusal(move: RepositoryMove) -> str | None:
    fault = name_fault(move.new, "repository name")
    if fault is not None:
        return f"invalid repository name {move.new[:300]!r}: {fault}"
    if not move.exists:
        return f"no repository {move.old}"
    if move.depth_rule and move.target_project is None:
        if move.nearest_target is None:
            return f"{move.new} would belong to no project ({NAMING_RULE})"
        return (
            f"{move.new} would belong to no project ({NAMING_RULE}): it is more than {MAX_IMAGE_DEPTH} "
            f"components below project {move.nearest_target}"
        )
    if not move.allowed:
        where = f"project {move.target_project}" if move.target_project != move.source_project else "the project"
        return f"moving {move.old} to {move.new} needs the maintainer role in project {move.source_project} and in {where} (or an admin)"
    if move.new == move.old:
        return f"repository {move.old} is already called {move.new}"
    if move.occupied is not None:
        return f"cannot move {move.old} to {move.new}: {move.occupied}"
    if move.signed:
        return signed_refusal("repository " + move.old, [move.old])
    return None

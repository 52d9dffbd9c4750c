"""Project and group paths, and how repositories map onto projects (pure).

A repository belongs to the project whose path is the longest prefix of its name, with at
most two more components: `group/project`, `group/project/image`, `group/project/my/image`.
Groups nest as GitLab's do: project `a/b/c` lives in group `a/b`, which lives in group `a`;
a top-level project (`myproject`) lives in no group.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from tinyreg.registry.names import name_fault

# The ownership rule lives with the registry, which counts usage by it; re-exported for access.
from tinyreg.registry.owners import MAX_IMAGE_DEPTH as MAX_IMAGE_DEPTH
from tinyreg.registry.owners import nearest_project as nearest_project
from tinyreg.registry.owners import project_of as project_of
from tinyreg.registry.owners import within_reach as within_reach

NAMING_RULE = "repository names are <project path>/<at most two more components>"
#: How many repositories a refusal lists by name before it only counts them.
LISTED_REPOSITORIES = 10


class PathError(ValueError):
    """A project or group path that cannot be used, saying which character is wrong and where."""


def check_project_path(path: str, what: str = "project path") -> str:
    """Return `path` if every component is a valid repository-name component; else PathError."""
    fault = name_fault(path, what)
    if fault is not None:
        raise PathError(f"invalid {what} {path[:300]!r}: {fault}" if path else fault)
    return path


def check_group_path(path: str) -> str:
    """The same rule for a group's path (the message says group)."""
    return check_project_path(path, "group path")


def parent_groups(path: str) -> list[str]:
    """The groups a project or group at `path` lives in, outermost first: `a/b/c` → `a`, `a/b`."""
    parts = path.split("/")
    return ["/".join(parts[:keep]) for keep in range(1, len(parts))]


def is_child(path: str, parent: str) -> bool:
    """Whether `path` lies directly in group `parent` (not deeper)."""
    return path.startswith(parent + "/") and "/" not in path[len(parent) + 1 :]


def unowned_repository_message(repo: str, nearest: str | None) -> str:
    """Why a repository no project owns is refused: the naming rule, and the way out."""
    if nearest is None:
        return (
            f"{repo} belongs to no project ({NAMING_RULE}) and no project path is a prefix of it: "
            "an admin creates one with `tinyreg project create PATH`"
        )
    deepest = "/".join(repo.split("/")[: nearest.count("/") + 1 + MAX_IMAGE_DEPTH])
    return (
        f"{repo} belongs to no project ({NAMING_RULE}): the nearest project is {nearest}, "
        f"so names go down to {deepest} at most; or an admin creates a deeper project with `tinyreg project create PATH`"
    )


def taken_over(path: str, repos: Iterable[str], is_project: Callable[[str], bool]) -> list[tuple[str, str]]:
    """(repository, its project today) for each of `repos` that creating project `path` would move to it."""
    moved = []
    for repo in repos:
        today = project_of(repo, is_project)
        if today is not None and project_of(repo, lambda candidate: candidate == path or is_project(candidate)) == path:
            moved.append((repo, today))
    return moved


def takeover_refusal(path: str, moved: list[tuple[str, str]]) -> str:
    """Why creating project `path` is refused without adoption: which repositories would change project."""
    listed = ", ".join(f"{repo} (now in {today})" for repo, today in moved[:LISTED_REPOSITORIES])
    more = f" and {len(moved) - LISTED_REPOSITORIES} more" if len(moved) > LISTED_REPOSITORIES else ""
    return (
        f"creating project {path} would move {len(moved)} existing repositor{'y' if len(moved) == 1 else 'ies'} "
        f"from another project into it, giving its members access and taking it from theirs: {listed}{more}; "
        "pass --adopt (adopt=True) to create it anyway"
    )

"""Which project owns a repository (pure): the rule usage is counted by, and access decides by.

A repository belongs to the project whose path is the longest prefix of its name, with at
most two more components: `group/project`, `group/project/image`, `group/project/my/image`.
"""

from __future__ import annotations

from collections.abc import Callable

MAX_IMAGE_DEPTH = 2


def nearest_project(repo: str, is_project: Callable[[str], bool]) -> str | None:
    """The longest path prefix of `repo` that is a project, however far below it `repo` is."""
    parts = repo.split("/")
    for keep in range(len(parts), 0, -1):
        candidate = "/".join(parts[:keep])
        if is_project(candidate):
            return candidate
    return None


def within_reach(repo: str, path: str) -> bool:
    """Whether `repo` is `path` or at most `MAX_IMAGE_DEPTH` components below it."""
    return (repo == path or repo.startswith(path + "/")) and repo.count("/") - path.count("/") <= MAX_IMAGE_DEPTH


def project_of(repo: str, is_project: Callable[[str], bool]) -> str | None:
    """The project owning `repo`: the longest path prefix that is a project, within reach."""
    path = nearest_project(repo, is_project)
    return path if path is not None and within_reach(repo, path) else None

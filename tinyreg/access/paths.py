"""Project paths and how repositories map onto projects (pure).

A repository belongs to the project whose path is the longest prefix of its name, with at
most two more components: `group/project`, `group/project/image`, `group/project/my/image`.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from tinyreg.registry.names import NAME_COMPONENT, NAME_MAX_LENGTH

MAX_IMAGE_DEPTH = 2
_COMPONENT = re.compile(NAME_COMPONENT)


class PathError(ValueError):
    """A project or group path that cannot be used, saying which character is wrong and where."""


def check_project_path(path: str) -> str:
    """Return `path` if every component is a valid repository-name component; else PathError."""
    if not path:
        raise PathError("a project path cannot be empty")
    if len(path) > NAME_MAX_LENGTH:
        raise PathError(f"a project path is at most {NAME_MAX_LENGTH} characters")
    position = 0
    for component in path.split("/"):
        if not component:
            raise PathError(f"empty path component at position {position + 1} (two slashes, or a slash at an end)")
        if _COMPONENT.fullmatch(component) is None:
            offset, reason = _first_fault(component)
            char = component[offset] if offset < len(component) else component[-1]
            raise PathError(f"invalid character {char!r} at position {position + offset + 1} of {path!r}: {reason}")
        position += len(component) + 1
    return path


def _first_fault(component: str) -> tuple[int, str]:
    """Where a component first breaks the grammar, and why."""
    for i, char in enumerate(component):
        if char.isupper():
            return i, "uppercase letters are not allowed"
        if not (char.isdigit() or "a" <= char <= "z" or char in "._-"):
            return i, "only a-z, 0-9 and the separators . _ - are allowed"
    if not component[0].isalnum():
        return 0, "a component must start with a letter or digit"
    if not component[-1].isalnum():
        return len(component) - 1, "a component must end with a letter or digit"
    for run in re.finditer(r"[._-]+", component):
        text = run.group()
        if text in (".", "_", "__") or set(text) == {"-"}:
            continue
        if text[0] == "-":
            allowed = len(text) - len(text.lstrip("-"))
        else:
            allowed = 2 if text.startswith("__") else 1
        return run.start() + allowed, "separators are one '.', one or two '_', or dashes, between letters or digits"
    return 0, "not a valid path component"


def project_of(repo: str, is_project: Callable[[str], bool]) -> str | None:
    """The project owning `repo`: the longest path prefix that is a project, within reach."""
    parts = repo.split("/")
    for keep in range(len(parts), 0, -1):
        candidate = "/".join(parts[:keep])
        if is_project(candidate):
            return candidate if len(parts) - keep <= MAX_IMAGE_DEPTH else None
    return None

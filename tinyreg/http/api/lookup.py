"""Finding what a request names (a project by id or path, a user, a repository) and deciding,
through the access policy, whether the caller may see or change it.

As GitLab, a project the caller may not see is "404 Project Not Found", the same answer as for
one that does not exist; a project the caller sees but may not change is "403 Forbidden".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from tinyreg.access.policy import (
    API,
    READ_API,
    READ_USER,
    GroupAccess,
    Principal,
    ProjectAccess,
    may_administer,
    may_call_api,
    may_create_in_group,
    may_delete_images,
    may_manage_group,
    may_manage_project,
    may_read_images,
    may_see_group,
    may_see_project,
)
from tinyreg.http.api.context import ApiState
from tinyreg.http.api.errors import ApiError, forbidden, not_found


def require_scope(principal: Principal, *, write: bool, user_only: bool = False) -> None:
    """403 `insufficient_scope` unless the caller's token allows this API call at all (`api`
    for a change; `api` or `read_api` for a read; `read_user` too for the current user), as
    GitLab answers."""
    if not may_call_api(principal, write=write, user_only=user_only):
        needed = [API] if write else [API, READ_API, READ_USER] if user_only else [API, READ_API]
        raise ApiError(
            403,
            {
                "error": "insufficient_scope",
                "error_description": "The request requires higher privileges than provided by the access token.",
                "scope": " ".join(needed),
            },
        )


@dataclass(frozen=True, slots=True)
class FoundProject:
    """A project the caller may see: its path, stored row, and what the policy needs of it."""

    path: str
    row: dict[str, Any]
    access: ProjectAccess

    @property
    def id(self) -> int:
        return int(self.row["id"])


def project_access(state: ApiState, principal: Principal, path: str) -> ProjectAccess | None:
    return state.store.project_access(path, principal.name if principal.kind == "user" else None)


def may_see(principal: Principal, access: ProjectAccess, row: dict[str, Any]) -> bool:
    """Whether the caller may learn the project exists. A public project whose registry is for
    members only is still public as a project (`access` says who may pull)."""
    return bool(row.get("public")) or may_see_project(principal, access)


def find_project(state: ApiState, principal: Principal, ident: str) -> FoundProject:
    """The project `ident` names (a number, or its path, URL-encoded or not); 404 if none is visible."""
    ident = unquote(ident)
    if ident.isdigit():
        found = state.store.project_by_id(int(ident))
        path = str(found["path"]) if found is not None else None
    else:
        path = ident if state.store.project(ident) is not None else None
    row = state.store.project(path) if path is not None else None
    access = project_access(state, principal, path) if path is not None else None
    if path is None or row is None or access is None or access.path != path or not may_see(principal, access, row):
        raise not_found("Project")
    return FoundProject(path, row, access)


def require_registry_read(principal: Principal, project: FoundProject) -> None:
    """403 unless the caller may read the project's container registry."""
    if not may_read_images(principal, project.access):
        raise forbidden()


def require_registry_delete(principal: Principal, project: FoundProject) -> None:
    """403 unless the caller may delete in the project's container registry."""
    require_scope(principal, write=True)
    if not may_delete_images(principal, project.access):
        raise forbidden()


def require_manage(principal: Principal, project: FoundProject, *, write: bool = True) -> None:
    """403 unless the caller may change the project's settings, members and deploy tokens (or,
    with `write` False, see what only those who manage it see, such as its deploy tokens)."""
    require_scope(principal, write=write)
    if not may_manage_project(principal, project.access):
        raise forbidden()


def require_admin(principal: Principal) -> None:
    if not may_administer(principal):
        raise forbidden()


def require_create_project(state: ApiState, principal: Principal, path: str) -> None:
    """403 unless the caller may create a project at `path`: in their own namespace (a path
    under their user name), or in a group the policy lets them create in."""
    namespace = path.rpartition("/")[0]
    if may_administer(principal) or (namespace and namespace == _user_name(principal)):
        return
    group = state.store.group_access(namespace, _user_name(principal))
    if group is None or not may_create_in_group(principal, group):
        raise forbidden()


def find_user(state: ApiState, ident: str) -> dict[str, Any]:
    """The user numbered `ident` as {"name", "id", ...}; 404 User Not Found."""
    found = state.store.user_by_id(int(ident)) if ident.isdigit() else None
    if found is None:
        raise not_found("User")
    return found


@dataclass(frozen=True, slots=True)
class FoundGroup:
    """A group the caller may see: its path, stored row, and what the policy needs of it."""

    path: str
    row: dict[str, Any]
    access: GroupAccess

    @property
    def id(self) -> int:
        return int(self.row["id"])


def _user_name(principal: Principal) -> str | None:
    return principal.name if principal.kind == "user" and principal.name else None


def find_group(state: ApiState, principal: Principal, ident: str) -> FoundGroup:
    """The group `ident` names (a number or its path); 404 Group Not Found unless the caller may see it."""
    ident = unquote(ident)
    found = state.store.group_by_id(int(ident)) if ident.isdigit() else state.store.group(ident)
    access = state.store.group_access(str(found["path"]), _user_name(principal)) if found is not None else None
    if found is None or access is None or not may_see_group(principal, access):
        raise not_found("Group")
    return FoundGroup(str(found["path"]), found, access)


def require_group_manage(principal: Principal, group: FoundGroup) -> None:
    """403 unless the caller may change the group's members."""
    require_scope(principal, write=True)
    if not may_manage_group(principal, group.access):
        raise forbidden()


def require_create_in_group(principal: Principal, group: FoundGroup) -> None:
    """403 unless the caller may create projects and subgroups in the group."""
    require_scope(principal, write=True)
    if not may_create_in_group(principal, group.access):
        raise forbidden()

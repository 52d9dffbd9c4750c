"""Finding what a request names (a project by id or path, a user, a repository) and deciding,
through the access policy, whether the caller may see or change it.

As GitLab, a project the caller may not see is "404 Project Not Found", the same answer as for
one that does not exist; a project the caller sees but may not change is "403 Forbidden".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from tinyreg.access.policy import DELETE, MANAGING_ROLES, PULL, Principal, ProjectAccess, allowed_actions
from tinyreg.http.api.context import ApiState
from tinyreg.http.api.errors import ApiError, forbidden, not_found

READ_SCOPES = frozenset({"api", "read_api"})
WRITE_SCOPES = frozenset({"api"})


def require_scope(principal: Principal, *, write: bool, also: frozenset[str] = frozenset()) -> None:
    """403 `insufficient_scope` unless the caller's token allows this API call (`api` for a
    change; `api` or `read_api`, or one of `also`, for a read), as GitLab answers."""
    if principal.scopes is None:
        return
    needed = WRITE_SCOPES if write else READ_SCOPES | also
    if not principal.scopes & needed:
        raise ApiError(
            403,
            {
                "error": "insufficient_scope",
                "error_description": "The request requires higher privileges than provided by the access token.",
                "scope": " ".join(sorted(needed)),
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
    """Whether the caller may learn the project exists: public, a member, or an admin."""
    return principal.admin or bool(row.get("public")) or (principal.kind == "user" and access.role is not None)


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


def can_read_registry(principal: Principal, project: FoundProject) -> bool:
    return PULL in allowed_actions(principal, project.access, {PULL})


def require_registry_read(principal: Principal, project: FoundProject) -> None:
    """403 unless the caller may read the project's container registry."""
    if not can_read_registry(principal, project):
        raise forbidden()


def require_registry_delete(principal: Principal, project: FoundProject) -> None:
    """403 unless the caller may delete in the project's container registry."""
    require_scope(principal, write=True)
    if DELETE not in allowed_actions(principal, project.access, {DELETE}):
        raise forbidden()


def require_manage(principal: Principal, project: FoundProject, *, write: bool = True) -> None:
    """403 unless the caller may change the project's settings, members and deploy tokens (or,
    with `write` False, see what only those who manage it see, such as its deploy tokens)."""
    require_scope(principal, write=write)
    if not (principal.admin or project.access.role in MANAGING_ROLES):
        raise forbidden()


def require_admin(principal: Principal) -> None:
    if not principal.admin:
        raise forbidden()


def require_create_project(state: ApiState, principal: Principal, path: str) -> None:
    """403 unless the caller may create a project at `path`: an admin anywhere, a user in their
    own namespace."""
    if not (principal.admin or path.rpartition("/")[0] == principal.name):
        raise forbidden()


def find_user(state: ApiState, ident: str) -> dict[str, Any]:
    """The user numbered `ident` as {"name", "id", ...}; 404 User Not Found."""
    found = state.store.user_by_id(int(ident)) if ident.isdigit() else None
    if found is None:
        raise not_found("User")
    return found


@dataclass(frozen=True, slots=True)
class FoundGroup:
    """A group the caller may see: its path and stored row."""

    path: str
    row: dict[str, Any]

    @property
    def id(self) -> int:
        return int(self.row["id"])


def group_role(state: ApiState, principal: Principal, path: str) -> str | None:
    """The caller's role in the group `path`, its own or inherited from a group above it."""
    if principal.kind != "user":
        return None
    return state.store.group_role(path, principal.name)


def find_group(state: ApiState, principal: Principal, ident: str) -> FoundGroup:
    """The group `ident` names (a number or its path); 404 Group Not Found unless the caller may
    see it: an admin, a public group, a member of it or of a group above it."""
    ident = unquote(ident)
    found = state.store.group_by_id(int(ident)) if ident.isdigit() else state.store.group(ident)
    if found is None:
        raise not_found("Group")
    path = str(found["path"])
    if not (principal.admin or found.get("public") or group_role(state, principal, path) is not None):
        raise not_found("Group")
    return FoundGroup(path, found)


def require_group_manage(state: ApiState, principal: Principal, group: FoundGroup) -> None:
    """403 unless the caller may change the group's members and subgroups."""
    require_scope(principal, write=True)
    if not (principal.admin or group_role(state, principal, group.path) in MANAGING_ROLES):
        raise forbidden()

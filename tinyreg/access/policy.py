"""Who may do what: the permission decision as a pure function, and its tables.

`allowed_actions(principal, project, requested)` is the whole rule set: role × visibility ×
token scope × action → allowed. The HTTP layer and the token endpoint call it; tests call it
directly, table by table.
"""

from __future__ import annotations

from dataclasses import dataclass

PULL, PUSH, DELETE = "pull", "push", "delete"
ACTIONS = (PULL, PUSH, DELETE)

ROLES = ("guest", "reporter", "developer", "maintainer", "owner")
ROLE_ACTIONS: dict[str, frozenset[str]] = {
    "guest": frozenset(),
    "reporter": frozenset({PULL}),
    "developer": frozenset({PULL, PUSH, DELETE}),
    "maintainer": frozenset({PULL, PUSH, DELETE}),
    "owner": frozenset({PULL, PUSH, DELETE}),
}
#: Roles that may also change a project's settings and members.
MANAGING_ROLES = frozenset({"maintainer", "owner"})

READ_REGISTRY, WRITE_REGISTRY = "read_registry", "write_registry"
SCOPES: dict[str, frozenset[str]] = {
    READ_REGISTRY: frozenset({PULL}),
    WRITE_REGISTRY: frozenset({PUSH, DELETE}),
}


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is asking: anonymous, a user (by password or personal token) or a deploy token."""

    kind: str  # "anonymous", "user", "deploy"
    name: str = ""
    admin: bool = False
    scopes: frozenset[str] | None = None  # None: a password login, limited only by role
    project: str | None = None  # the project a deploy token belongs to
    token_id: int | None = None  # the token used to log in, if any


ANONYMOUS = Principal("anonymous")


@dataclass(frozen=True, slots=True)
class ProjectAccess:
    """What the decision needs to know of the project owning a repository."""

    path: str
    public: bool
    registry_enabled: bool
    role: str | None  # the principal's role in it, if a member


def scope_actions(scopes: frozenset[str] | None) -> frozenset[str]:
    """The actions a set of token scopes can ever allow (all of them for a password login)."""
    if scopes is None:
        return frozenset(ACTIONS)
    allowed: frozenset[str] = frozenset()
    for scope in scopes:
        allowed |= SCOPES.get(scope, frozenset())
    return allowed


def allowed_actions(principal: Principal, project: ProjectAccess | None, requested: frozenset[str] | set[str]) -> frozenset[str]:
    """The subset of `requested` that `principal` may do on a repository of `project`.

    A repository outside every project is for admins only. A project whose registry is off
    refuses everyone. Public projects let anyone pull. Otherwise the role decides, and a token
    never exceeds its scopes.
    """
    wanted = frozenset(requested) & frozenset(ACTIONS)
    if project is None:
        rights = frozenset(ACTIONS) if principal.admin else frozenset()
    elif not project.registry_enabled:
        return frozenset()
    elif principal.admin:
        rights = frozenset(ACTIONS)
    elif principal.kind == "user":
        rights = ROLE_ACTIONS.get(project.role or "", frozenset())
    elif principal.kind == "deploy" and principal.project == project.path:
        rights = frozenset(ACTIONS)
    else:
        rights = frozenset()
    rights &= scope_actions(principal.scopes)
    if project is not None and project.public:
        rights |= {PULL}
    return wanted & rights


def required_actions(resource: str, method: str) -> frozenset[str]:
    """What a request needs on its repository (empty for the base and catalog endpoints)."""
    if resource in ("base", "catalog"):
        return frozenset()
    if resource == "uploads" or (resource == "manifests" and method == "PUT"):
        return frozenset({PULL, PUSH})
    if method == "DELETE":
        return frozenset({DELETE})
    return frozenset({PULL})

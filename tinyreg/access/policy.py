"""Who may do what: the permission decision as a pure function, and its tables.

`allowed_actions(principal, project, requested)` is the whole registry rule set: role ×
visibility × token scope × action → allowed. The HTTP layer and the token endpoint call it;
tests call it directly, table by table. `explain_refusal` puts a refusal into words, pure as
well, saying no more than the caller may know.

The management decisions (who may see or manage a project or group, delete its images,
administer users) and the API's scope check are pure functions below as well, for the API,
the panel and the command line alike. A role is always the effective one: the highest of the
principal's roles in the project and in every group above it (`effective_role`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from tinyreg.access.paths import unowned_repository_message

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
ROLE_RANK = {role: rank for rank, role in enumerate(ROLES)}

READ_REGISTRY, WRITE_REGISTRY = "read_registry", "write_registry"
API, READ_API, READ_USER = "api", "read_api", "read_user"
#: What each token scope allows on the registry. As in GitLab, `api` includes the registry
#: (read and write) and `read_api` reading it; `read_user` gives nothing there.
SCOPES: dict[str, frozenset[str]] = {
    READ_REGISTRY: frozenset({PULL}),
    WRITE_REGISTRY: frozenset({PUSH, DELETE}),
    API: frozenset({PULL, PUSH, DELETE}),
    READ_API: frozenset({PULL}),
    READ_USER: frozenset(),
}
#: Scopes a deploy token may have: deploy tokens never reach the API.
DEPLOY_SCOPES = (READ_REGISTRY, WRITE_REGISTRY)


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


def effective_role(roles: Iterable[str | None]) -> str | None:
    """The highest of `roles` (a project's and its groups' roles of one user); None if none."""
    known = [role for role in roles if role in ROLE_RANK]
    return max(known, key=ROLE_RANK.__getitem__) if known else None


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

    A repository outside every project is refused to everyone, admins too: the project decides
    who may use a repository, so none may exist without one. A project whose registry is off
    refuses everyone. Public projects let anyone pull. Otherwise the role decides, and a token
    never exceeds its scopes.
    """
    wanted = frozenset(requested) & frozenset(ACTIONS)
    if project is None or not project.registry_enabled:
        return frozenset()
    if principal.admin:
        rights = frozenset(ACTIONS)
    elif principal.kind == "user":
        rights = ROLE_ACTIONS.get(project.role or "", frozenset())
    elif principal.kind == "deploy" and principal.project == project.path:
        rights = frozenset(ACTIONS)
    else:
        rights = frozenset()
    rights &= scope_actions(principal.scopes)
    if project.public:
        rights |= {PULL}
    return wanted & rights


def _knows(principal: Principal, project: ProjectAccess | None) -> bool:
    """Whether `principal` may learn that `project` exists (public, a member, its deploy token, an admin)."""
    if project is None:
        return False
    own_deploy = principal.kind == "deploy" and principal.project == project.path
    return principal.admin or project.public or own_deploy or (principal.kind == "user" and project.role is not None)


def explain_refusal(
    principal: Principal,
    project: ProjectAccess | None,
    requested: frozenset[str] | set[str],
    *,
    repo: str,
    nearest: ProjectAccess | None = None,
) -> str:
    """Why `allowed_actions` refuses some of `requested` on `repo`, in words for the caller.

    `project` owns `repo` (None: no project does); `nearest` is the longest project path that
    is a prefix of `repo`, however deep. A caller who may not know a project exists hears
    "not found or no access" whether it exists or not, so the message reveals nothing.
    """
    refused = frozenset(requested) - allowed_actions(principal, project, requested)
    what = "/".join(action for action in ACTIONS if action in refused) or "use"
    if principal.kind == "anonymous" and not (project is not None and project.public and not project.registry_enabled):
        preposition = {"pull": "from", "push": "to", "delete": "in"}.get(what, "on")
        return f"authentication required to {what} {preposition} {repo}: log in first"
    if project is None:
        if principal.admin or _knows(principal, nearest):
            return unowned_repository_message(repo, nearest.path if nearest is not None else None)
        return f"{repo}: not found or no access ({what} refused)"
    if not _knows(principal, project):
        return f"{repo}: not found or no access ({what} refused)"
    if not project.registry_enabled:
        return f"the registry is switched off for project {project.path}"
    if principal.kind == "deploy" and principal.project != project.path:
        return f"a deploy token of {principal.project} may only pull from project {project.path}, which is public"
    scoped = refused & scope_actions(principal.scopes)
    if refused - scoped:
        scopes = ", ".join(sorted(principal.scopes or ())) or "none"
        return f"the token used (scopes: {scopes}) does not allow {'/'.join(a for a in ACTIONS if a in refused - scoped)}"
    if principal.kind == "user" and not principal.admin:
        enough = next((role for role in ROLES if refused <= ROLE_ACTIONS[role]), "owner")
        if project.role is None:
            return f"you are not a member of project {project.path}: anyone may pull from it, {what} needs the role {enough}"
        return f"your role in project {project.path} is {project.role}, which does not allow {what} (it needs {enough})"
    return f"{what} on {repo} is not allowed"


def required_actions(resource: str, method: str) -> frozenset[str]:
    """What a request needs on its repository (empty for the base and catalog endpoints)."""
    if resource in ("base", "catalog"):
        return frozenset()
    if resource == "uploads" or (resource == "manifests" and method == "PUT"):
        return frozenset({PULL, PUSH})
    if method == "DELETE":
        return frozenset({DELETE})
    return frozenset({PULL})


# -- the pull-through cache ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CacheAccess:
    """What the decision needs to know of a cached repository (see `registry/mirrors.py`)."""

    mirror: str
    url: str
    public: bool  # a mirror anyone may pull through, signed in or not (always so without --auth)
    dependency_proxy: bool = False  # reached as <group>/dependency_proxy/containers/<image>
    group: GroupAccess | None = None  # the dependency proxy's group (None: no such group)


def cache_actions(principal: Principal, cache: CacheAccess, requested: frozenset[str] | set[str]) -> frozenset[str]:
    """The subset of `requested` that `principal` may do on a cached repository.

    Cached repositories are read-only to clients: they hold what upstream has, so nobody pushes
    to or deletes from them (administrators purge them through the API). Through a mirror's
    path any signed-in principal may pull (anyone, when the mirror is public); through a
    group's Dependency Proxy, as in GitLab, whoever may read the group: its members from
    reporter up (a role in a group above counts), administrators, anyone when the group is public.
    """
    wanted = frozenset(requested) & {PULL}
    if cache.dependency_proxy:
        group = cache.group
        if group is None:
            return frozenset()
        member = principal.kind == "user" and PULL in ROLE_ACTIONS.get(group.role or "", frozenset())
        rights = frozenset({PULL}) if principal.admin or member else frozenset()
        rights &= scope_actions(principal.scopes)
        return wanted & (rights | ({PULL} if group.public else set()))
    if cache.public:
        return wanted
    return wanted & scope_actions(principal.scopes) if principal.kind != "anonymous" else frozenset()


def explain_cache_refusal(principal: Principal, cache: CacheAccess, requested: frozenset[str] | set[str], *, repo: str) -> str:
    """Why `cache_actions` refuses some of `requested` on `repo`, in words for the caller."""
    refused = frozenset(requested) - cache_actions(principal, cache, requested)
    if refused - {PULL}:
        return (
            f"{repo} is a read-only cache of {cache.url} (mirror {cache.mirror}): push to a repository of your own; "
            "administrators purge cached images through the API"
        )
    if principal.kind == "anonymous":
        return f"authentication required to pull from {repo}: log in first"
    if cache.dependency_proxy:
        if cache.group is None or not (cache.group.public or cache.group.role is not None or principal.admin):
            return f"{repo}: not found or no access (pull refused)"
        if PULL in scope_actions(principal.scopes):
            return f"pulling through the dependency proxy of group {cache.group.path} needs the role reporter or higher"
    return f"the token used (scopes: {', '.join(sorted(principal.scopes or ())) or 'none'}) does not allow pull"


# -- management decisions, shared by the API, the panel and the command line ------------------


@dataclass(frozen=True, slots=True)
class GroupAccess:
    """What a decision needs to know of a group."""

    path: str
    public: bool
    role: str | None  # the principal's effective role in it (its own or from a group above)


def _is_user(principal: Principal) -> bool:
    return principal.kind == "user"


def may_see_project(principal: Principal, project: ProjectAccess) -> bool:
    """Public projects, projects the principal has any role in (guest too, via a group too),
    a deploy token's own project, and everything for admins."""
    return _knows(principal, project)


def may_manage_project(principal: Principal, project: ProjectAccess) -> bool:
    """Settings, visibility, the registry switch, members, deploy tokens, cleanup policy and
    size limit: maintainers, owners and admins."""
    return _is_user(principal) and (principal.admin or project.role in MANAGING_ROLES)


def may_read_images(principal: Principal, project: ProjectAccess) -> bool:
    """List and inspect a project's images: exactly who may pull them from the registry."""
    return PULL in allowed_actions(principal, project, {PULL})


def may_delete_images(principal: Principal, project: ProjectAccess) -> bool:
    """Delete images and tags: exactly who may DELETE through the registry (developer and up)."""
    return DELETE in allowed_actions(principal, project, {DELETE})


def may_administer(principal: Principal) -> bool:
    """Create, change and remove users and top-level groups; see everything: admins only."""
    return _is_user(principal) and principal.admin


def may_see_group(principal: Principal, group: GroupAccess) -> bool:
    return group.public or (_is_user(principal) and (principal.admin or group.role is not None))


def may_manage_group(principal: Principal, group: GroupAccess) -> bool:
    """Change a group's settings and members, remove it: the group's owners and admins."""
    return _is_user(principal) and (principal.admin or group.role == "owner")


def may_create_in_group(principal: Principal, group: GroupAccess) -> bool:
    """Create projects and subgroups in a group: its maintainers and owners, and admins."""
    return _is_user(principal) and (principal.admin or group.role in MANAGING_ROLES)


def may_move_project(
    principal: Principal, project: ProjectAccess, namespace: str, target: GroupAccess | None, *, same_namespace: bool
) -> bool:
    """Rename a project or transfer it to `namespace`: a maintainer (or owner) of the project who
    may also create projects there (the namespace it is in, their own user namespace, or a group
    they maintain, `target`); admins anywhere, top level too."""
    if not _is_user(principal):
        return False
    if principal.admin:
        return True
    if project.role not in MANAGING_ROLES:
        return False
    if same_namespace or (namespace != "" and namespace == principal.name):
        return True
    return target is not None and may_create_in_group(principal, target)


def may_move_repository(principal: Principal, source: ProjectAccess, target: ProjectAccess) -> bool:
    """Rename a repository, or move it into another project: maintainer (or owner) in both, or an admin."""
    return _is_user(principal) and (principal.admin or (source.role in MANAGING_ROLES and target.role in MANAGING_ROLES))


def may_call_api(principal: Principal, *, write: bool, user_only: bool = False) -> bool:
    """Whether the credential used lets `principal` make an API call at all (before the
    decisions above): a write needs the scope `api`, a read `api` or `read_api`, and a read of
    the current user only (`GET /user`) `read_user` as well. A password login (no scopes) may
    call anything its roles allow; anonymous callers may read (public things only, decided
    above); deploy tokens and registry-only tokens never call the API."""
    if principal.kind == "deploy":
        return False
    if principal.kind == "anonymous":
        return not write and not user_only
    if principal.scopes is None:
        return True
    if write:
        return API in principal.scopes
    allowed = {API, READ_API, READ_USER} if user_only else {API, READ_API}
    return bool(principal.scopes & allowed)

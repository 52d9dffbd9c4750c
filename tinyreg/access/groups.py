"""Groups as GitLab has them, and the roles they pass down.

Groups nest (`a`, `a/b`); a project `a/b/c` lives in group `a/b`. A group is created
explicitly, or implicitly (private, without members) with the first project or subgroup below
it, in the same unit of work. A member of a group has their role in every project and
subgroup below it; the highest of a user's roles wins (`policy.effective_role`).

The helpers taking a `tx` work inside a snapshot or unit of work; `GroupStore` holds the
operations `AccessStore` offers.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from tinyreg.access.errors import AccessError as AccessError  # raised here, importable from here
from tinyreg.access.paths import PathError, check_group_path, is_child, parent_groups
from tinyreg.access.policy import (
    ROLES,
    GroupAccess,
    Principal,
    ProjectAccess,
    effective_role,
    may_see_group,
    may_see_project,
)
from tinyreg.storage.interfaces import MetaReader, MetaStore, MetaWriter

VISIBILITIES = ("private", "public")


def new_group(tx: MetaWriter, path: str, *, public: bool) -> int:
    """Add group `path` with the next group id; the id."""
    group_id = tx.next_counter("group")
    tx.put_group(path, {"id": group_id, "public": public, "created": time.time()})
    return group_id


def ensure_groups(tx: MetaWriter, path: str) -> list[str]:
    """Create the missing groups that `path` (a project or group) lives in; those made."""
    made = [group for group in parent_groups(path) if tx.group(group) is None]
    for group in made:
        new_group(tx, group, public=False)
    return made


def inherited_roles(tx: MetaReader, path: str, user: str) -> list[str | None]:
    """`user`'s roles in the groups `path` lives in, outermost first (None where not a member)."""
    return [row["role"] if (row := tx.group_member(group, user)) else None for group in parent_groups(path)]


def project_role(tx: MetaReader, path: str, user: str | None) -> str | None:
    """`user`'s effective role in project `path`: its own membership or one of a group above."""
    if not user:
        return None
    member = tx.member(path, user)
    return effective_role([member["role"] if member else None, *inherited_roles(tx, path, user)])


def group_role(tx: MetaReader, path: str, user: str | None) -> str | None:
    """`user`'s effective role in group `path`: its own membership or one of a group above."""
    if not user:
        return None
    member = tx.group_member(path, user)
    return effective_role([member["role"] if member else None, *inherited_roles(tx, path, user)])


def named_row(found: tuple[str, Any] | None, key: str = "path") -> dict[str, Any] | None:
    """A (name, row) lookup result as one dict, the name under `key`; None stays None."""
    return None if found is None else {key: found[0], **found[1]}


def check_role(role: str | None) -> None:
    if role is not None and role not in ROLES:
        raise AccessError(f"role must be one of {', '.join(ROLES)}, not {role!r}")


def change_membership(tx: MetaWriter, kind: str, path: str, user: str, role: str | None) -> None:
    """Give `user` a role in the project or group (`kind`) `path`, or take it away (role None)."""
    project = kind == "project"
    if (tx.project(path) if project else tx.group(path)) is None:
        raise AccessError(f"no {kind} {path!r}")
    if tx.user(user) is None:
        raise AccessError(f"no user {user!r}")
    if role is None:
        if not (tx.delete_member(path, user) if project else tx.delete_group_member(path, user)):
            raise AccessError(f"{user!r} is not a member of {'' if project else 'group '}{path!r}")
    elif project:
        tx.put_member(path, user, {"role": role})
    else:
        tx.put_group_member(path, user, {"role": role})


class GroupStore:
    """The group operations of the access model."""

    meta: MetaStore

    def create_group(self, path: str, *, visibility: str = "private", owner: str | None = None) -> int:
        """Add a group (and the missing groups above it); its new id. `owner` becomes its owner."""
        try:
            check_group_path(path)
        except PathError as exc:
            raise AccessError(str(exc)) from None
        if visibility not in VISIBILITIES:
            raise AccessError(f"visibility must be one of {', '.join(VISIBILITIES)}, not {visibility!r}")

        def change(tx: MetaWriter) -> int:
            if tx.group(path) is not None:
                raise AccessError(f"group {path!r} already exists")
            if owner is not None and tx.user(owner) is None:
                raise AccessError(f"no user {owner!r}")
            ensure_groups(tx, path)
            group_id = new_group(tx, path, public=visibility == "public")
            if owner is not None:
                tx.put_group_member(path, owner, {"role": "owner"})
            return group_id

        return self.meta.write(change)

    def update_group(self, path: str, *, public: bool | None = None) -> None:
        def change(tx: MetaWriter) -> None:
            record = tx.group(path)
            if record is None:
                raise AccessError(f"no group {path!r}")
            tx.put_group(path, {**record, **({} if public is None else {"public": public})})

        self.meta.write(change)

    def group(self, path: str) -> dict[str, Any] | None:
        """{"path", "id", "public", "created"} of a group, or None."""
        with self.meta.read() as tx:
            row = tx.group(path)
        return None if row is None else {"path": path, **row}

    def group_by_id(self, group_id: int) -> dict[str, Any] | None:
        with self.meta.read() as tx:
            return named_row(tx.group_by_id(group_id))

    def groups(self) -> list[dict[str, Any]]:
        """Every group, by path."""
        with self.meta.read() as tx:
            return [{"path": path, **row} for path, row in tx.iter_groups()]

    def subgroups(self, path: str, *, recursive: bool = False) -> list[dict[str, Any]]:
        """The groups in group `path` (directly, or at any depth with `recursive`), by path."""
        with self.meta.read() as tx:
            below = list(tx.groups_below(path))
        return [{"path": sub, **row} for sub, row in below if recursive or is_child(sub, path)]

    def projects_in_group(self, path: str, *, recursive: bool = True) -> list[dict[str, Any]]:
        """The projects in group `path` and (with `recursive`) in its subgroups, by path."""
        with self.meta.read() as tx:
            below = list(tx.projects_below(path))
        return [{"path": project, **row} for project, row in below if recursive or is_child(project, path)]

    def set_group_member(self, path: str, user: str, role: str | None) -> None:
        """Give `user` a role in the group (and so below it), or remove them with role None."""
        check_role(role)
        self.meta.write(lambda tx: change_membership(tx, "group", path, user, role))

    def group_members(self, path: str, *, inherited: bool = False) -> dict[str, str]:
        """{user: role} of the group's own members; with `inherited`, also the members of the
        groups above it, each with their effective role here."""
        with self.meta.read() as tx:
            return members_with_roles(tx, path, tx.group_members(path), inherited=inherited)

    def visible_projects(self, principal: Principal) -> list[dict[str, Any]]:
        """The projects `principal` may see (`policy.may_see_project`), by path, each as
        {"path", "id", "public", "registry_enabled", "created", "role"}; `role` is the
        principal's effective role (None: seen as public, as an admin, or as a deploy token's own)."""
        with self.meta.read() as tx:
            roles = _roles_of(tx, principal)
            projects = list(tx.iter_projects())
        found = []
        for path, row in projects:
            access = ProjectAccess(path, bool(row["public"]), bool(row["registry_enabled"]), roles.project(path))
            if may_see_project(principal, access):
                found.append({"path": path, **row, "role": access.role})
        return found

    def visible_groups(self, principal: Principal) -> list[dict[str, Any]]:
        """The groups `principal` may see (`policy.may_see_group`), by path, each as
        {"path", "id", "public", "created", "role"} with the principal's effective role."""
        with self.meta.read() as tx:
            roles = _roles_of(tx, principal)
            groups = list(tx.iter_groups())
        found = []
        for path, row in groups:
            access = GroupAccess(path, bool(row["public"]), roles.group(path))
            if may_see_group(principal, access):
                found.append({"path": path, **row, "role": access.role})
        return found

    def group_access(self, path: str, username: str | None) -> GroupAccess | None:
        """What the decisions need of group `path` for `username` (None: no such group)."""
        with self.meta.read() as tx:
            row = tx.group(path)
            return None if row is None else GroupAccess(path, bool(row["public"]), group_role(tx, path, username))


def members_with_roles(tx: MetaReader, path: str, own: Any, *, inherited: bool) -> dict[str, str]:
    """{user: role} from `own` (user, row) pairs; with `inherited`, the members of the groups
    above `path` join, and each user has their highest role."""
    roles: dict[str, list[str | None]] = {user: [row["role"]] for user, row in own}
    if inherited:
        for group in parent_groups(path):
            for user, row in tx.group_members(group):
                roles.setdefault(user, []).append(row["role"])
    return {user: role for user, listed in sorted(roles.items()) if (role := effective_role(listed)) is not None}


@dataclass(frozen=True, slots=True)
class _Roles:
    """One user's own roles in projects and groups, to work out effective roles without reads."""

    projects: dict[str, str]
    groups: dict[str, str]

    def project(self, path: str) -> str | None:
        return effective_role([self.projects.get(path), *(self.groups.get(group) for group in parent_groups(path))])

    def group(self, path: str) -> str | None:
        return effective_role([self.groups.get(group) for group in (*parent_groups(path), path)])


def _roles_of(tx: MetaReader, principal: Principal) -> _Roles:
    if principal.kind != "user":
        return _Roles({}, {})
    name = principal.name
    projects = {path: row["role"] for path, user in tx.iter_members() if user == name and (row := tx.member(path, user))}
    groups = {
        path: row["role"] for path, user in tx.iter_group_members() if user == name and (row := tx.group_member(path, user))
    }
    return _Roles(projects, groups)

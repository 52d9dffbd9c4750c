"""Users, projects, groups, members and tokens, kept in the registry's metadata store.

Every change is one short unit of work, so the command line can administer a data
directory while `tinyreg serve` runs on it.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any

from tinyreg.access import secrets
from tinyreg.access.groups import AccessError as AccessError  # raised by every operation here: importable from here
from tinyreg.access.groups import (
    GroupStore,
    change_membership,
    check_role,
    ensure_groups,
    members_with_roles,
    named_row,
    project_role,
)
from tinyreg.access.paths import PathError, check_project_path, nearest_project, taken_over, takeover_refusal, within_reach
from tinyreg.access.policy import DEPLOY_SCOPES, SCOPES, ProjectAccess
from tinyreg.registry.accounting import owner_project, recount
from tinyreg.registry.aliases import active_alias, until
from tinyreg.storage.interfaces import AliasRow, MetaStore, MetaWriter

USERNAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
DEPLOY_USER_PREFIX = "tinyreg+deploy-token-"


@dataclass(frozen=True, slots=True)
class TokenRecord:
    """A personal access token or a deploy token, as stored (the secret itself is not)."""

    id: int
    kind: str  # "personal" or "deploy"
    name: str
    username: str  # the name to log in with
    owner: str  # the user (personal) or the project (deploy)
    scopes: tuple[str, ...]
    expires_at: float | None
    revoked: bool
    created: float

    def usable(self, now: float) -> bool:
        return self.problem(now) is None

    def problem(self, now: float) -> str | None:
        """Why this token can no longer log in (revoked, expired), or None while it can."""
        if self.revoked:
            return f"the {self.kind} token {self.name!r} was revoked"
        if self.expires_at is not None and now >= self.expires_at:
            expired = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(self.expires_at))
            return f"the {self.kind} token {self.name!r} expired at {expired}"
        return None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "name": self.name,
            "username": self.username,
            "owner": self.owner,
            "scopes": list(self.scopes),
            "expires_at": self.expires_at,
            "revoked": self.revoked,
            "created": self.created,
        }


def _check_scopes(kind: str, scopes: list[str]) -> tuple[str, ...]:
    """Personal tokens take any scope; deploy tokens registry scopes only (never the API)."""
    allowed = tuple(SCOPES) if kind == "personal" else DEPLOY_SCOPES
    unknown = [s for s in scopes if s not in allowed]
    if unknown or not scopes:
        raise AccessError(f"scopes must be among {', '.join(allowed)}; got {', '.join(scopes) or 'none'}")
    return tuple(sorted(set(scopes)))


class AccessStore(GroupStore):
    """The access model's operations on the metadata store (groups: see `GroupStore`)."""

    def __init__(self, meta: MetaStore) -> None:
        self.meta = meta

    # -- users ---------------------------------------------------------------------------

    def user(self, name: str) -> dict[str, Any] | None:
        with self.meta.read() as tx:
            return tx.user(name)

    def users(self) -> list[dict[str, Any]]:
        with self.meta.read() as tx:
            return [{"name": name, **row} for name, row in tx.iter_users()]

    def user_by_id(self, user_id: int) -> dict[str, Any] | None:
        """The user numbered `user_id` as {"name", "id", ...its row}, or None."""
        with self.meta.read() as tx:
            return named_row(tx.user_by_id(user_id), "name")

    def add_user(self, name: str, password: str | None, *, admin: bool = False) -> int:
        """Create a user; their new id."""
        if USERNAME_RE.fullmatch(name) is None:
            raise AccessError(
                f"invalid user name {name!r}: letters, digits, '_', '.', '-' (1-64, starting with a letter or digit)"
            )
        record = {
            "admin": admin,
            "password": secrets.hash_password(password) if password else None,
            "tokens_only": False,
            "created": time.time(),
        }

        def change(tx: MetaWriter) -> int:
            if tx.user(name) is not None:
                raise AccessError(f"user {name!r} already exists")
            user_id = tx.next_counter("user")
            tx.put_user(name, {"id": user_id, **record})
            return user_id

        return self.meta.write(change)

    def update_user(self, name: str, **fields: Any) -> None:
        """Change `admin`, `tokens_only` or `password` (given in clear, stored hashed).

        A new password also ends the registry tokens issued for the old one.
        """
        if "password" in fields and fields["password"] is not None:
            fields["password"] = secrets.hash_password(fields["password"])

        def change(tx: MetaWriter) -> None:
            record = tx.user(name)
            if record is None:
                raise AccessError(f"no user {name!r}")
            if "password" in fields:
                fields["version"] = record.get("version", 0) + 1
            tx.put_user(name, {**record, **fields})

        self.meta.write(change)

    def remove_user(self, name: str) -> None:
        """Remove a user, their memberships (of projects and groups), and revoke their tokens."""

        def change(tx: MetaWriter) -> None:
            if not tx.delete_user(name):
                raise AccessError(f"no user {name!r}")
            for path in [path for path, user in tx.iter_members() if user == name]:
                tx.delete_member(path, name)
            for path in [path for path, user in tx.iter_group_members() if user == name]:
                tx.delete_group_member(path, name)
            for key in list(tx.iter_token_keys()):
                record = tx.token(key)
                if record and record["kind"] == "personal" and record["owner"] == name:
                    tx.put_token(key, record["id"], {**record, "revoked": True})

        self.meta.write(change)

    # -- projects ------------------------------------------------------------------------

    def project(self, path: str) -> dict[str, Any] | None:
        with self.meta.read() as tx:
            return tx.project(path)

    def projects(self) -> list[dict[str, Any]]:
        with self.meta.read() as tx:
            return [{"path": path, **row} for path, row in tx.iter_projects()]

    def project_by_id(self, project_id: int) -> dict[str, Any] | None:
        """The project numbered `project_id` as {"path", "id", ...its row}, or None."""
        with self.meta.read() as tx:
            return named_row(tx.project_by_id(project_id))

    def repository_info(self, repo: str) -> dict[str, Any] | None:
        """{"name", "id", "created", "updated"} of a repository (`updated`: last published, or None)."""
        with self.meta.read() as tx:
            return named_row((repo, row) if (row := tx.repository_info(repo)) else None, "name")

    def repository_by_id(self, repo_id: int) -> dict[str, Any] | None:
        """Like `repository_info`, for the repository numbered `repo_id`."""
        with self.meta.read() as tx:
            return named_row(tx.repository_by_id(repo_id), "name")

    def create_project(self, path: str, *, public: bool = False, owner: str | None = None, adopt: bool = False) -> int:
        """Add a project, and the missing groups it lives in (private, without members); its new id.
        Repositories of other projects that would move into it (see paths.py) are a refusal
        naming them, unless `adopt` says that move is wanted."""
        try:
            check_project_path(path)
        except PathError as exc:
            raise AccessError(str(exc)) from None

        def change(tx: MetaWriter) -> int:
            if tx.project(path) is not None:
                raise AccessError(f"project {path!r} already exists")
            if (alias := active_alias(tx, path)) is not None:
                raise AccessError(
                    f"{path} is the old path of {alias['target']}, kept as an alias until {until(alias)}; "
                    f"remove it first (tinyreg project alias remove {path})"
                )
            if owner is not None and tx.user(owner) is None:
                raise AccessError(f"no user {owner!r}")
            repos = tx.repositories_under(path)
            if not adopt:
                moved = taken_over(path, repos, lambda candidate: tx.project(candidate) is not None)
                if moved:
                    raise AccessError(takeover_refusal(path, moved))
            ensure_groups(tx, path)
            losing = {owner_project(tx, repo) for repo in repos}
            project_id = tx.next_counter("project")
            tx.put_project(path, {"id": project_id, "public": public, "registry_enabled": True, "created": time.time()})
            if owner is not None:
                tx.put_member(path, owner, {"role": "owner"})
            if repos:  # their usage now counts in this project, no longer in the one they were in
                recount(tx, {path, *(project for project in losing if project is not None)})
            return project_id

        return self.meta.write(change)

    def update_project(
        self,
        path: str,
        *,
        public: bool | None = None,
        registry_enabled: bool | None = None,
        registry_private: bool | None = None,
    ) -> None:
        """Change a project's visibility, and whether its registry is on and for members only."""
        fields = (("public", public), ("registry_enabled", registry_enabled), ("registry_private", registry_private))
        changes = {k: v for k, v in fields if v is not None}

        def change(tx: MetaWriter) -> None:
            record = tx.project(path)
            if record is None:
                raise AccessError(f"no project {path!r}")
            tx.put_project(path, {**record, **changes})

        self.meta.write(change)

    def set_display_name(self, path: str, name: str) -> None:
        """Give the project a display name (GitLab's `name`; its path does not change)."""

        def change(tx: MetaWriter) -> None:
            record = tx.project(path)
            if record is None:
                raise AccessError(f"no project {path!r}")
            tx.put_project(path, {**record, "name": name.strip()[:255]})

        self.meta.write(change)

    def set_size_limit(self, path: str, limit: int | None, *, use_default: bool = False) -> None:
        """Give the project its own size limit in bytes (None: no limit), or make it follow the default."""

        def change(tx: MetaWriter) -> None:
            record = tx.project(path)
            if record is None:
                raise AccessError(f"no project {path!r}")
            record = {k: v for k, v in record.items() if k != "size_limit"}
            tx.put_project(path, record if use_default else {**record, "size_limit": limit})

        self.meta.write(change)

    def set_member(self, path: str, user: str, role: str | None) -> None:
        """Give `user` a role in the project, or remove them with role None."""
        check_role(role)
        self.meta.write(lambda tx: change_membership(tx, "project", path, user, role))

    def members(self, path: str, *, inherited: bool = False) -> dict[str, str]:
        """{user: role} of the project's own members; with `inherited`, also the members of the
        groups it lives in, each with their effective role in it."""
        with self.meta.read() as tx:
            return members_with_roles(tx, path, tx.members(path), inherited=inherited)

    def alias_of(self, path: str) -> AliasRow | None:
        """The alias in force of `path` (the old path of a moved project or repository), or None."""
        with self.meta.read() as tx:
            return active_alias(tx, path)

    def project_access(self, repo: str, username: str | None) -> ProjectAccess | None:
        """The project owning `repo` and `username`'s role in it (one read snapshot)."""
        project = self.nearest_project_access(repo, username)
        return project if project is not None and within_reach(repo, project.path) else None

    def nearest_project_access(self, repo: str, username: str | None) -> ProjectAccess | None:
        """The longest project path that prefixes `repo`, even one too far above it to own it; the
        role is `username`'s effective one (the project's own or from a group above)."""
        with self.meta.read() as tx:
            found: dict[str, Any] = {}

            def is_project(path: str) -> bool:
                found[path] = tx.project(path)
                return found[path] is not None

            path = nearest_project(repo, is_project)
            if path is None:
                return None
            role = project_role(tx, path, username)
        record = found[path]
        # A public project whose registry is private lets anyone see the project, not pull from it.
        public = bool(record["public"]) and not record.get("registry_private", False)
        return ProjectAccess(path, public, bool(record["registry_enabled"]), role)

    # -- tokens --------------------------------------------------------------------------

    def create_token(
        self, kind: str, owner: str, name: str, scopes: list[str], expires_at: float | None
    ) -> tuple[str, TokenRecord]:
        """Make a token for a user (`personal`) or a project (`deploy`); return its secret (shown once)."""
        checked = _check_scopes(kind, scopes)
        secret = secrets.new_token(secrets.PERSONAL_PREFIX if kind == "personal" else secrets.DEPLOY_PREFIX)
        key = secrets.token_key(secret)

        def change(tx: MetaWriter) -> TokenRecord:
            if (tx.user(owner) if kind == "personal" else tx.project(owner)) is None:
                raise AccessError(f"no {'user' if kind == 'personal' else 'project'} {owner!r}")
            token_id = tx.next_counter("token")
            username = owner if kind == "personal" else f"{DEPLOY_USER_PREFIX}{token_id}"
            record = TokenRecord(token_id, kind, name, username, owner, checked, expires_at, False, time.time())
            tx.put_token(key, token_id, record.to_json())
            return record

        return secret, self.meta.write(change)

    def token_by_secret(self, secret: str) -> TokenRecord | None:
        with self.meta.read() as tx:
            row = tx.token(secrets.token_key(secret))
        return TokenRecord(**row) if row else None

    def token_by_id(self, token_id: int) -> TokenRecord | None:
        with self.meta.read() as tx:
            key = tx.token_key(token_id)
            row = tx.token(key) if key else None
        return TokenRecord(**row) if row else None

    def tokens(self, *, kind: str | None = None, owner: str | None = None) -> list[TokenRecord]:
        with self.meta.read() as tx:
            rows = [tx.token(key) for key in tx.iter_token_keys()]
        records = [TokenRecord(**row) for row in rows if row]
        return sorted(
            (r for r in records if (kind is None or r.kind == kind) and (owner is None or r.owner == owner)), key=lambda r: r.id
        )

    def revoke_token(self, token_id: int) -> TokenRecord:
        def change(tx: MetaWriter) -> TokenRecord:
            key = tx.token_key(token_id)
            row = tx.token(key) if key else None
            if row is None or key is None:
                raise AccessError(f"no token {token_id}")
            row["revoked"] = True
            tx.put_token(key, token_id, row)
            return TokenRecord(**row)

        return self.meta.write(change)

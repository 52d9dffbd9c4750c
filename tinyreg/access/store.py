"""Users, projects, members and tokens, kept in the registry's LMDB environment.

Every change is one short write transaction, so the command line can administer a data
directory while `tinyreg serve` runs on it.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any

from tinyreg.access import secrets
from tinyreg.access.paths import PathError, check_project_path, nearest_project, taken_over, takeover_refusal, within_reach
from tinyreg.access.policy import ROLES, SCOPES, ProjectAccess
from tinyreg.storage import keys
from tinyreg.storage.meta import Meta

USERNAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
DEPLOY_USER_PREFIX = "tinyreg+deploy-token-"


class AccessError(ValueError):
    """An administration request that cannot be done, with a message for a person."""


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


def _check_scopes(scopes: list[str]) -> tuple[str, ...]:
    unknown = [s for s in scopes if s not in SCOPES]
    if unknown or not scopes:
        raise AccessError(f"scopes must be among {', '.join(SCOPES)}; got {', '.join(scopes) or 'none'}")
    return tuple(sorted(set(scopes)))


class AccessStore:
    """Typed access to the access-model sub-databases."""

    def __init__(self, meta: Meta) -> None:
        self.meta = meta

    # -- users ---------------------------------------------------------------------------

    def user(self, name: str) -> dict[str, Any] | None:
        with self.meta.read() as txn:
            return self.meta.get(txn, "users", name.encode())

    def users(self) -> list[dict[str, Any]]:
        with self.meta.read() as txn:
            return [{"name": k.decode(), **self.meta.decode_value(v)} for k, v in self.meta.scan(txn, "users", b"")]

    def add_user(self, name: str, password: str | None, *, admin: bool = False) -> None:
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

        def change(txn: Any) -> None:
            if txn.get(name.encode(), db=self.meta.db["users"]) is not None:
                raise AccessError(f"user {name!r} already exists")
            self.meta.put(txn, "users", name.encode(), record)

        self.meta.write(change)

    def update_user(self, name: str, **fields: Any) -> None:
        """Change `admin`, `tokens_only` or `password` (given in clear, stored hashed).

        A new password also ends the registry tokens issued for the old one.
        """
        if "password" in fields and fields["password"] is not None:
            fields["password"] = secrets.hash_password(fields["password"])

        def change(txn: Any) -> None:
            record = self.meta.get(txn, "users", name.encode())
            if record is None:
                raise AccessError(f"no user {name!r}")
            if "password" in fields:
                fields["version"] = record.get("version", 0) + 1
            self.meta.put(txn, "users", name.encode(), {**record, **fields})

        self.meta.write(change)

    def remove_user(self, name: str) -> None:
        """Remove a user, their memberships, and revoke their tokens."""

        def change(txn: Any) -> None:
            if not self.meta.delete(txn, "users", name.encode()):
                raise AccessError(f"no user {name!r}")
            suffix = keys.SEP + name.encode()
            for key in [k for k, _ in self.meta.scan(txn, "members", b"") if k.endswith(suffix)]:
                self.meta.delete(txn, "members", key)
            for _, key in list(self.meta.scan(txn, "token_ids", b"")):
                record = self.meta.get(txn, "tokens", key)
                if record and record["kind"] == "personal" and record["owner"] == name:
                    self.meta.put(txn, "tokens", key, {**record, "revoked": True})

        self.meta.write(change)

    # -- projects ------------------------------------------------------------------------

    def project(self, path: str) -> dict[str, Any] | None:
        with self.meta.read() as txn:
            return self.meta.get(txn, "projects", path.encode())

    def projects(self) -> list[dict[str, Any]]:
        with self.meta.read() as txn:
            return [{"path": k.decode(), **self.meta.decode_value(v)} for k, v in self.meta.scan(txn, "projects", b"")]

    def create_project(self, path: str, *, public: bool = False, owner: str | None = None, adopt: bool = False) -> None:
        """Add a project. Repositories of other projects that would move into it (see paths.py)
        are a refusal naming them, unless `adopt` says that move is wanted."""
        try:
            check_project_path(path)
        except PathError as exc:
            raise AccessError(str(exc)) from None

        def change(txn: Any) -> None:
            if txn.get(path.encode(), db=self.meta.db["projects"]) is not None:
                raise AccessError(f"project {path!r} already exists")
            if owner is not None and txn.get(owner.encode(), db=self.meta.db["users"]) is None:
                raise AccessError(f"no user {owner!r}")
            if not adopt:

                def is_project(candidate: str) -> bool:
                    return txn.get(candidate.encode(), db=self.meta.db["projects"]) is not None

                moved = taken_over(path, self._repositories_under(txn, path), is_project)
                if moved:
                    raise AccessError(takeover_refusal(path, moved))
            self.meta.put(txn, "projects", path.encode(), {"public": public, "registry_enabled": True, "created": time.time()})
            if owner is not None:
                self.meta.put(txn, "members", keys.repo_key(path, owner), {"role": "owner"})

        self.meta.write(change)

    def _repositories_under(self, txn: Any, path: str) -> list[str]:
        """The repositories named `path` or `path/...`, read in `txn` (a prefix scan of `repos`)."""
        names = (key.decode() for key, _ in self.meta.scan(txn, "repos", path.encode()))
        return [name for name in names if name == path or name.startswith(path + "/")]

    def update_project(self, path: str, *, public: bool | None = None, registry_enabled: bool | None = None) -> None:
        changes = {k: v for k, v in (("public", public), ("registry_enabled", registry_enabled)) if v is not None}

        def change(txn: Any) -> None:
            record = self.meta.get(txn, "projects", path.encode())
            if record is None:
                raise AccessError(f"no project {path!r}")
            self.meta.put(txn, "projects", path.encode(), {**record, **changes})

        self.meta.write(change)

    def set_member(self, path: str, user: str, role: str | None) -> None:
        """Give `user` a role in the project, or remove them with role None."""
        if role is not None and role not in ROLES:
            raise AccessError(f"role must be one of {', '.join(ROLES)}, not {role!r}")

        def change(txn: Any) -> None:
            if txn.get(path.encode(), db=self.meta.db["projects"]) is None:
                raise AccessError(f"no project {path!r}")
            if txn.get(user.encode(), db=self.meta.db["users"]) is None:
                raise AccessError(f"no user {user!r}")
            key = keys.repo_key(path, user)
            if role is None:
                if not self.meta.delete(txn, "members", key):
                    raise AccessError(f"{user!r} is not a member of {path!r}")
            else:
                self.meta.put(txn, "members", key, {"role": role})

        self.meta.write(change)

    def members(self, path: str) -> dict[str, str]:
        prefix = keys.repo_prefix(path)
        with self.meta.read() as txn:
            return {
                k[len(prefix) :].decode(): self.meta.decode_value(v)["role"] for k, v in self.meta.scan(txn, "members", prefix)
            }

    def project_access(self, repo: str, username: str | None) -> ProjectAccess | None:
        """The project owning `repo` and `username`'s role in it (one read snapshot)."""
        project = self.nearest_project_access(repo, username)
        return project if project is not None and within_reach(repo, project.path) else None

    def nearest_project_access(self, repo: str, username: str | None) -> ProjectAccess | None:
        """The longest project path that prefixes `repo`, even one too far above it to own it."""
        with self.meta.read() as txn:
            found: dict[str, Any] = {}

            def is_project(path: str) -> bool:
                found[path] = self.meta.get(txn, "projects", path.encode())
                return found[path] is not None

            path = nearest_project(repo, is_project)
            if path is None:
                return None
            member = self.meta.get(txn, "members", keys.repo_key(path, username)) if username else None
        record = found[path]
        return ProjectAccess(path, bool(record["public"]), bool(record["registry_enabled"]), member["role"] if member else None)

    # -- tokens --------------------------------------------------------------------------

    def create_token(
        self, kind: str, owner: str, name: str, scopes: list[str], expires_at: float | None
    ) -> tuple[str, TokenRecord]:
        """Make a token for a user (`personal`) or a project (`deploy`); return its secret (shown once)."""
        checked = _check_scopes(scopes)
        secret = secrets.new_token(secrets.PERSONAL_PREFIX if kind == "personal" else secrets.DEPLOY_PREFIX)
        key = secrets.token_key(secret)

        def change(txn: Any) -> TokenRecord:
            owner_db = "users" if kind == "personal" else "projects"
            if txn.get(owner.encode(), db=self.meta.db[owner_db]) is None:
                raise AccessError(f"no {'user' if kind == 'personal' else 'project'} {owner!r}")
            token_id = (self.meta.get(txn, "counters", b"token") or 0) + 1
            self.meta.put(txn, "counters", b"token", token_id)
            username = owner if kind == "personal" else f"{DEPLOY_USER_PREFIX}{token_id}"
            record = TokenRecord(token_id, kind, name, username, owner, checked, expires_at, False, time.time())
            self.meta.put(txn, "tokens", key, record.to_json())
            txn.put(str(token_id).encode(), key, db=self.meta.db["token_ids"])
            return record

        return secret, self.meta.write(change)

    def token_by_secret(self, secret: str) -> TokenRecord | None:
        with self.meta.read() as txn:
            row = self.meta.get(txn, "tokens", secrets.token_key(secret))
        return TokenRecord(**row) if row else None

    def token_by_id(self, token_id: int) -> TokenRecord | None:
        with self.meta.read() as txn:
            key = txn.get(str(token_id).encode(), db=self.meta.db["token_ids"])
            row = self.meta.get(txn, "tokens", key) if key else None
        return TokenRecord(**row) if row else None

    def tokens(self, *, kind: str | None = None, owner: str | None = None) -> list[TokenRecord]:
        with self.meta.read() as txn:
            rows = [self.meta.get(txn, "tokens", key) for _, key in self.meta.scan(txn, "token_ids", b"")]
        records = [TokenRecord(**row) for row in rows if row]
        return sorted(
            (r for r in records if (kind is None or r.kind == kind) and (owner is None or r.owner == owner)), key=lambda r: r.id
        )

    def revoke_token(self, token_id: int) -> TokenRecord:
        def change(txn: Any) -> TokenRecord:
            key = txn.get(str(token_id).encode(), db=self.meta.db["token_ids"])
            row = self.meta.get(txn, "tokens", key) if key else None
            if row is None:
                raise AccessError(f"no token {token_id}")
            row["revoked"] = True
            self.meta.put(txn, "tokens", key, row)
            return TokenRecord(**row)

        return self.meta.write(change)

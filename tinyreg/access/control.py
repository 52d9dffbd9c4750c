"""Authentication and authorization for a registry with `--auth`: log in, grant, issue, check."""

from __future__ import annotations

import logging
import math
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import trio

from tinyreg.access import secrets
from tinyreg.access.jwt import KeyRing, TokenError
from tinyreg.access.paths import within_reach
from tinyreg.access.policy import (
    ACTIONS,
    ANONYMOUS,
    PULL,
    CacheAccess,
    Principal,
    allowed_actions,
    cache_actions,
    explain_cache_refusal,
    explain_refusal,
)
from tinyreg.access.scopes import ScopeRequest
from tinyreg.access.store import AccessStore
from tinyreg.access.throttle import WINDOW, Throttle, address_key
from tinyreg.registry.aliases import push_refusal
from tinyreg.registry.errors import RegistryError
from tinyreg.registry.mirrors import Mirror, by_dependency_proxy, by_prefix
from tinyreg.storage.interfaces import MetaStore

PASSWORD_CHECKS_AT_ONCE = 2
MAX_NAME_BYTES = 255
log = logging.getLogger("tinyreg.access")
#: The reason of a failed login that must not say more (which user exists, which password was close).
BAD_LOGIN = "invalid user name or password"
#: Throttling is said where operators look first, not only in the access log.
throttle_log = logging.getLogger("tinyreg")


@dataclass(frozen=True)
class AuthSettings:
    service: str = "tinyreg"
    issuer: str = "tinyreg"
    token_ttl: float = 300.0
    refresh_ttl: float = 86_400.0


class AccessControl:
    """Everything `--auth` adds: credentials → principal → granted actions → signed tokens."""

    def __init__(
        self,
        meta: MetaStore,
        data_dir: Path,
        settings: AuthSettings | None = None,
        *,
        mirrors: tuple[Mirror, ...] = (),
        dependency_proxy_upstream: str = "",
        keys_dir: Path | None = None,
    ) -> None:
        self.settings = settings or AuthSettings()
        self.mirrors = mirrors
        self.dependency_proxy_upstream = dependency_proxy_upstream
        self.meta = meta  # async callers run the decisions, which read it, through `call_meta`
        self.store = AccessStore(meta)
        self.keys = KeyRing(keys_dir or data_dir / "keys", max_token_age=max(self.settings.token_ttl, self.settings.refresh_ttl))
        self.throttle = Throttle()
        # Each password check holds 64 MiB for argon2id: bound how many run at once.
        self._password_checks = trio.CapacityLimiter(PASSWORD_CHECKS_AT_ONCE)

    # -- credentials ---------------------------------------------------------------------

    async def login(self, username: str, password: str, client: str) -> Principal | None:
        """The principal these credentials prove, or None; TOOMANYREQUESTS once failures pile up."""
        principal, _ = await self.authenticate(username, password, client)
        return principal

    async def authenticate(self, username: str, password: str, client: str) -> tuple[Principal | None, str]:
        """`login`, with the reason of a failure for the caller: `BAD_LOGIN` unless the
        credentials proved who is asking (a right password, a token's secret)."""
        if not username or len(username.encode()) > MAX_NAME_BYTES:
            return None, BAD_LOGIN  # no such user can exist (and LMDB keys cannot be empty)
        throttle_keys = [f"user:{username.lower()}", address_key(client)]
        is_token = password.startswith((secrets.PERSONAL_PREFIX, secrets.DEPLOY_PREFIX))
        if is_token:
            # A token is checked before the throttle: it is a hash lookup (no argon2 to protect)
            # and 256 random bits cannot be guessed, so a CI job logging in with its deploy or
            # personal token is never locked out by someone else's failures on the same name or
            # address. Its success does not clear those failures either. Wrong tokens count below.
            principal, reason = self._token_principal(username, password)
            if principal is not None:
                return principal, ""
        verdict = self.throttle.attempt(throttle_keys, time.monotonic())
        for key in verdict.throttling_starts:
            throttle_log.warning(
                "too many failed logins for %s %s: further logins are slowed down, then refused for up to %d s",
                *key.split(":", 1),
                WINDOW,
            )
        if verdict.refused_for:
            retry_after = max(1, math.ceil(verdict.refused_for))
            raise RegistryError(
                "TOOMANYREQUESTS",
                f"too many failed logins; try again in {retry_after} s",
                headers={"Retry-After": str(retry_after)},
            )
        if verdict.delay:
            await trio.sleep(verdict.delay)
        if not is_token:
            principal, reason = await trio.to_thread.run_sync(
                self._check_password, username, password, limiter=self._password_checks
            )
        if principal is not None:
            self.throttle.succeeded(throttle_keys)
        else:
            log.info("refused login of %r from %s: %s", username[:100], client, reason)
        return principal, reason

    def _check_password(self, username: str, password: str) -> tuple[Principal | None, str]:
        user = self.store.user(username)
        stored = user.get("password") if user is not None else None
        if not secrets.verify_password(stored, password) or user is None or not stored:
            return None, BAD_LOGIN
        if user.get("tokens_only"):  # said only now that the password proved who is asking
            return None, f"user {username} logs in with personal access tokens only: use a token as the password"
        return Principal("user", username, admin=bool(user["admin"])), ""

    def _token_principal(self, username: str, secret: str) -> tuple[Principal | None, str]:
        record = self.store.token_by_secret(secret)
        if record is None or not secrets.same(record.username, username):
            return None, BAD_LOGIN
        problem = record.problem(time.time())
        if problem is not None:
            return None, problem
        principal = self._principal_of_token(record.id)
        return principal, "" if principal is not None else BAD_LOGIN

    def _principal_of_token(self, token_id: int) -> Principal | None:
        record = self.store.token_by_id(token_id)
        if record is None or not record.usable(time.time()):
            return None
        scopes = frozenset(record.scopes)
        if record.kind == "deploy":
            return Principal("deploy", record.username, scopes=scopes, project=record.owner, token_id=record.id)
        user = self.store.user(record.owner)
        if user is None:
            return None
        return Principal("user", record.owner, admin=bool(user["admin"]), scopes=scopes, token_id=record.id)

    # -- decisions -----------------------------------------------------------------------

    def allowed(self, principal: Principal, repo: str, actions: frozenset[str] | set[str]) -> frozenset[str]:
        cache = self.cache_access(principal, repo)
        if cache is not None:
            return cache_actions(principal, cache, actions)
        alias = self.store.alias_of(repo)
        if alias is not None:  # the old name of a moved repository: pulls of the new one, read-only
            return self._allowed(principal, alias["target"], actions) & {PULL}
        return self._allowed(principal, repo, actions)

    def _allowed(self, principal: Principal, repo: str, actions: frozenset[str] | set[str]) -> frozenset[str]:
        project = self.store.project_access(repo, principal.name if principal.kind == "user" else None)
        return allowed_actions(principal, project, actions)

    def moved_refusal(self, principal: Principal, repo: str, actions: frozenset[str] | set[str]) -> str | None:
        """Why a write under the old name of a moved repository is refused, naming the new one;
        None unless `repo` is such a name and `principal` may pull from where it went."""
        alias = self.store.alias_of(repo)
        if alias is None or not set(actions) - {PULL} or PULL not in self._allowed(principal, alias["target"], {PULL}):
            return None
        return push_refusal(repo, alias)

    def cache_access(self, principal: Principal, repo: str) -> CacheAccess | None:
        """What the decision needs of `repo` when it names a cached repository (a mirror's path or
        a group's Dependency Proxy); None for every other repository."""
        if not self.mirrors:
            return None
        target = by_prefix(self.mirrors, repo)
        if target is not None:
            return CacheAccess(target.mirror.name, target.mirror.url, target.mirror.public)
        proxied = by_dependency_proxy(self.mirrors, repo, self.dependency_proxy_upstream)
        if proxied is None:
            return None
        group, target = proxied
        access = self.store.group_access(group, principal.name if principal.kind == "user" else None)
        return CacheAccess(target.mirror.name, target.mirror.url, False, dependency_proxy=True, group=access)

    def refusal(self, principal: Principal, repo: str, actions: frozenset[str] | set[str]) -> str:
        """Why `allowed` refuses `actions` on `repo`, in words `principal` may read."""
        cache = self.cache_access(principal, repo)
        if cache is not None:
            return explain_cache_refusal(principal, cache, actions, repo=repo)
        nearest = self.store.nearest_project_access(repo, principal.name if principal.kind == "user" else None)
        owner = nearest if nearest is not None and within_reach(repo, nearest.path) else None
        return explain_refusal(principal, owner, actions, repo=repo, nearest=nearest)

    def grant(self, principal: Principal, requests: list[ScopeRequest]) -> list[dict[str, Any]]:
        """The access entries of a token: each asked scope cut down to what is allowed."""
        granted = []
        for request in requests:
            if request.type == "repository":
                asked = set(ACTIONS) if "*" in request.actions else set(request.actions)
                actions = sorted(self.allowed(principal, request.name, asked))
            elif request.type == "registry" and request.name == "catalog":
                actions = ["*"]  # anyone may list; the listing shows only readable repositories
            else:
                actions = []
            granted.append({"type": request.type, "name": request.name, "actions": actions})
        return granted

    # -- tokens --------------------------------------------------------------------------

    def issue(self, principal: Principal, access: list[dict[str, Any]], *, use: str = "access") -> tuple[str, float]:
        """A signed token for `principal`; returns it and its issue time."""
        now = time.time()
        ttl = self.settings.refresh_ttl if use == "refresh" else self.settings.token_ttl
        claims: dict[str, Any] = {
            "iss": self.settings.issuer,
            "sub": principal.name,
            "aud": self.settings.service,
            "exp": int(now) + int(ttl),  # exp - iat never exceeds the ttl, which verify checks
            "nbf": int(now) - 1,
            "iat": int(now),
            "jti": uuid.uuid4().hex,
            "access": access,
            "kind": principal.kind,
        }
        if use == "refresh":
            claims["use"] = "refresh"
        claims.update(self.identity_claims(principal))
        return self.keys.sign(claims), now

    def identity_claims(self, principal: Principal) -> dict[str, Any]:
        """The claims that name `principal` so `current_principal` can look it up again later:
        the token it logged in with, or the user's credentials version (a password login)."""
        claims: dict[str, Any] = {"sub": principal.name, "kind": principal.kind}
        if principal.token_id is not None:
            claims["tid"] = principal.token_id
        elif principal.kind == "user":
            claims["cv"] = _credentials_version(self.store.user(principal.name))
        return claims

    def current_principal(self, claims: dict[str, Any]) -> Principal | None:
        """The principal that claims signed earlier name, as it is now: None once its token is
        revoked or expired, its user removed, switched to tokens only or given a new password."""
        return self._principal_of_claims(claims)

    def verify(self, token: str, *, use: str = "access") -> tuple[Principal, list[dict[str, Any]]]:
        """The principal behind a token and its access entries; TokenError when it must be refused.

        The principal is looked up again, so a revoked token or removed user stops at once.
        """
        claims = self.keys.verify(token, audience=self.settings.service, issuer=self.settings.issuer)
        if (claims.get("use") or "access") != use:
            raise TokenError(f"not an {use} token")
        if claims["exp"] - claims["iat"] > (self.settings.refresh_ttl if use == "refresh" else self.settings.token_ttl):
            raise TokenError(f"token lives longer than an {use} token may")
        principal = self._principal_of_claims(claims)
        if principal is None:
            raise TokenError(self._why_claims_fail(claims))
        access = claims.get("access")
        return principal, access if isinstance(access, list) else []

    def _principal_of_claims(self, claims: dict[str, Any]) -> Principal | None:
        kind = claims.get("kind")
        if kind == "anonymous":
            return ANONYMOUS
        if isinstance(claims.get("tid"), int):
            return self._principal_of_token(claims["tid"])
        if kind == "user":
            user = self.store.user(str(claims.get("sub")))
            if user is None or user.get("tokens_only") or claims.get("cv") != _credentials_version(user):
                return None  # removed, switched to tokens only, or its password changed since
            return Principal("user", str(claims["sub"]), admin=bool(user["admin"]))
        return None

    def _why_claims_fail(self, claims: dict[str, Any]) -> str:
        """Why a well-signed token's principal is gone: its token revoked or expired, its user changed."""
        if isinstance(claims.get("tid"), int):
            record = self.store.token_by_id(claims["tid"])
            problem = record.problem(time.time()) if record is not None else None
            if problem is not None:
                return f"this registry token was issued for a token that no longer works: {problem}"
        return "the credentials behind this token are no longer valid (user removed, password changed or tokens only)"


def _credentials_version(user: dict[str, Any] | None) -> str:
    """Changes whenever a user's password changes or the user is removed and made again."""
    if user is None:
        return ""
    return f"{user.get('created')}:{user.get('version', 0)}"

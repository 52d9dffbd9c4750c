"""Enforce `--auth` on `/v2/`: who is calling, what the route needs, and the 401 challenge."""

from __future__ import annotations

import base64
import binascii
import logging
from typing import Any

from tinyreg.access.control import AccessControl
from tinyreg.access.jwt import TokenError
from tinyreg.access.policy import ANONYMOUS, PULL, Principal, required_actions
from tinyreg.access.scopes import grants_catalog, token_actions
from tinyreg.http.asgi import Request
from tinyreg.http.hosts import announced_host
from tinyreg.http.routes import Route
from tinyreg.registry.errors import RegistryError
from tinyreg.registry.offload import call_meta

log = logging.getLogger("tinyreg.access")


def basic_credentials(header: str) -> tuple[str, str] | None:
    """(user, password) from an `Authorization: Basic` header, or None if it is not one."""
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, sep, password = base64.b64decode(value.strip(), validate=True).decode().partition(":")
    except (binascii.Error, ValueError):  # not base64, not ASCII, not UTF-8
        return None
    return (user, password) if sep else None


def bearer_token(header: str) -> str | None:
    """The token of an `Authorization: Bearer` header, or None if it is not one."""
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def client_address(request: Request) -> str:
    """The client's IP address, as the server saw it."""
    client = request.scope.get("client")
    return str(client[0]) if client else "-"


CATALOG_SCOPE = "registry:catalog:*"


def quoted(value: str) -> str:
    """An RFC 9110 quoted-string: backslash and double quote escaped."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


class Guard:
    """Decides each `/v2/` request; raises the spec's UNAUTHORIZED / DENIED errors."""

    def __init__(self, control: AccessControl, realm: str | None = None) -> None:
        self.control = control
        self.realm = realm

    def _realm(self, request: Request) -> str:
        if self.realm:
            return self.realm
        scheme = "https" if request.scope.get("scheme") == "https" else "http"
        return f"{scheme}://{announced_host(request)}/token"

    def challenge_header(self, request: Request, scope: str | None, error: str | None) -> dict[str, str]:
        params = {"realm": self._realm(request), "service": self.control.settings.service, "scope": scope, "error": error}
        return {"WWW-Authenticate": "Bearer " + ",".join(f"{key}={quoted(value)}" for key, value in params.items() if value)}

    def _challenge(self, request: Request, scope: str | None, error: str | None, message: str) -> RegistryError:
        return RegistryError("UNAUTHORIZED", message, headers=self.challenge_header(request, scope, error))

    async def authorize(self, request: Request, route: Route) -> Principal:
        """The caller, once allowed to make this request; an error response otherwise."""
        needed = required_actions(route.resource, request.method)
        if route.resource == "catalog":
            scope: str | None = CATALOG_SCOPE
        else:
            scope = (
                f"repository:{route.name}:{','.join(sorted(needed, key=('pull', 'push', 'delete').index))}" if needed else None
            )
        header = request.header("authorization") or ""
        token_access: list[dict[str, object]] | None = None
        via = "anonymous"
        principal = ANONYMOUS
        if (token := bearer_token(header)) is not None:
            try:
                principal, token_access = await call_meta(self.control.meta, self.control.verify, token)
            except TokenError as exc:
                raise self._refuse(
                    request, "a bearer token", route, str(exc), self._challenge(request, scope, "invalid_token", str(exc))
                ) from None
            via = "bearer"
        elif (credentials := basic_credentials(header)) is not None:
            found, reason = await self.control.authenticate(*credentials, client_address(request))  # logs a refusal
            if found is None:
                raise self._challenge(request, scope, None, reason)
            principal, via = found, "basic"

        lists_catalog = route.resource == "catalog" and (via == "basic" or grants_catalog(token_access))

        def readable(repo: str) -> bool:
            if lists_catalog:  # the catalog lists what the caller may pull
                return PULL in self.control.allowed(principal, repo, {PULL})
            return PULL in self._granted(principal, token_access, repo, frozenset({PULL}))

        request.can_read = readable
        if route.resource in ("base", "catalog") and via == "anonymous":
            # Clients send their credentials only after a challenge: an anonymous catalog
            # answered with an empty list would never show a logged-in user anything.
            raise self._challenge(request, scope, None, "authentication required")
        if route.resource == "catalog" and not lists_catalog:
            raise self._insufficient(request, scope, f"the token does not grant {scope}")
        meta = self.control.meta
        if not needed or needed <= await call_meta(meta, self._granted, principal, token_access, route.name, needed):
            return principal
        who = principal.name or principal.kind
        moved = await call_meta(meta, self.control.moved_refusal, principal, route.name, needed)
        if moved is not None:  # a push to the old name of a moved repository: DENIED, whatever the credential
            raise self._refuse(request, who, route, moved, RegistryError("DENIED", moved, detail={"name": route.name}))
        reason = await call_meta(meta, self.control.refusal, principal, route.name, needed)
        if via == "anonymous":
            raise self._refuse(request, who, route, reason, self._challenge(request, scope, None, reason))
        if via == "bearer":
            allowed = await call_meta(meta, self.control.allowed, principal, route.name, needed)
            if needed <= allowed:  # allowed, just not asked for
                reason = f"the token does not grant {scope}: ask /token for it"
                raise self._refuse(request, who, route, reason, self._insufficient(request, scope, reason))
            reason = f"the token does not grant {scope}: {reason}"
            raise self._refuse(request, who, route, reason, self._challenge(request, scope, "insufficient_scope", reason))
        detail = {"name": route.name, "action": sorted(needed), "reason": reason}
        raise self._refuse(request, who, route, reason, RegistryError("DENIED", reason, detail=detail))

    def _refuse(self, request: Request, who: str, route: Route, reason: str, error: RegistryError) -> RegistryError:
        """Log one line saying who was refused what and why, and return the error to raise."""
        log.info("refused %s: %s %s (%s): %s", who, request.method, route.name or "/v2/", route.resource, reason)
        return error

    def _insufficient(self, request: Request, scope: str | None, message: str) -> RegistryError:
        """A token that lacks a scope its subject would be granted: 403 DENIED, with the challenge.

        Distribution answers 401 insufficient_scope here. oras-py 0.2 (provider.do_request) on a
        401 retries once with the token it already holds and gives up; only on a 403 does it
        drop that token and ask the realm for one with the challenge's scope. docker, containerd
        and containers/image (skopeo, podman, buildah) ask /token for every scope an operation
        needs before sending it, so they meet this answer only for a request their token was
        never meant for; a token that lacks a scope its subject may *not* have keeps the 401.
        """
        return RegistryError("DENIED", message, headers=self.challenge_header(request, scope, "insufficient_scope"))

    def _granted(self, principal: Principal, token_access: list[Any] | None, repo: str, needed: frozenset[str]) -> frozenset[str]:
        allowed = self.control.allowed(principal, repo, needed)
        return allowed if token_access is None else allowed & token_actions(token_access, repo)

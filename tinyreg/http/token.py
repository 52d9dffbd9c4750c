"""`/token`: the Docker token endpoint (GET, Basic credentials) and its OAuth2 form (POST)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

from tinyreg.access.control import AccessControl
from tinyreg.access.jwt import TokenError
from tinyreg.access.policy import ANONYMOUS, Principal
from tinyreg.access.scopes import TooManyScopes, parse_scopes
from tinyreg.http.asgi import Request, Response, json_response
from tinyreg.http.auth import basic_credentials, client_address
from tinyreg.registry.errors import RegistryError
from tinyreg.registry.offload import call_meta

FORM_LIMIT = 64 * 1024


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat().replace("+00:00", "Z")


def _answer(status: int, document: dict[str, Any]) -> Response:
    """Token responses must not be cached (RFC 6749 §5.1)."""
    return json_response(status, document, {"Cache-Control": "no-store"})


class TokenEndpoint:
    """Issues registry tokens for the credentials and scopes a client presents."""

    def __init__(self, control: AccessControl) -> None:
        self.control = control

    async def _tokens(self, principal: Principal, scopes: list[str], *, refresh: bool) -> dict[str, Any]:
        return await call_meta(self.control.meta, self._token_body, principal, scopes, refresh)

    def _token_body(self, principal: Principal, scopes: list[str], refresh: bool) -> dict[str, Any]:
        access = self.control.grant(principal, parse_scopes(scopes))  # may raise TooManyScopes (answered by get and post)
        token, issued = self.control.issue(principal, access)
        body = {
            "token": token,
            "access_token": token,
            "expires_in": int(self.control.settings.token_ttl),
            "issued_at": _iso(issued),
            "scope": " ".join(f"{a['type']}:{a['name']}:{','.join(a['actions'])}" for a in access),
        }
        if refresh and principal.kind != "anonymous":
            body["refresh_token"], _ = self.control.issue(principal, [], use="refresh")
        return body

    async def get(self, request: Request) -> Response:
        """Docker token authentication: Basic credentials (or none) and `scope` parameters."""
        try:
            return await self._get(request)
        except TooManyScopes as exc:
            return _answer(400, {"error": "invalid_scope", "error_description": str(exc)})

    async def post(self, request: Request) -> Response:
        """OAuth2: the `password` and `refresh_token` grants, as containerd uses them."""
        try:
            return await self._post(request)
        except TooManyScopes as exc:
            return _answer(400, {"error": "invalid_scope", "error_description": str(exc)})

    async def _get(self, request: Request) -> Response:
        principal = ANONYMOUS
        header = request.header("authorization")
        if header:
            credentials = basic_credentials(header)
            found, reason = await self.control.authenticate(*credentials, client_address(request)) if credentials else (None, "")
            if found is None:
                raise RegistryError("UNAUTHORIZED", reason or "invalid user name or password")
            account = request.query("account")
            if account is not None and credentials and account != credentials[0]:
                # The client says it acts as another account than it proved: a confused or
                # tampered request; a token for either name would be wrong for it.
                raise RegistryError("UNAUTHORIZED", "the account parameter does not match the credentials")
            principal = found
        offline = (request.query("offline_token") or "").lower() == "true"
        return _answer(200, await self._tokens(principal, request.query_all("scope"), refresh=offline))

    async def _post(self, request: Request) -> Response:
        form = parse_qs((await request.read(FORM_LIMIT)).decode("latin-1"), keep_blank_values=True)

        def field(name: str) -> str:
            return (form.get(name) or [""])[0]

        grant = field("grant_type")
        if grant == "password":
            principal, reason = await self.control.authenticate(field("username"), field("password"), client_address(request))
            if principal is None:
                # 401 rather than RFC 6749's 400: containerd then retries with GET /token and says why
                return _answer(401, {"error": "invalid_grant", "error_description": reason})
        elif grant == "refresh_token":
            try:
                refresh_token = field("refresh_token")
                verified = await call_meta(self.control.meta, lambda: self.control.verify(refresh_token, use="refresh"))
                principal = verified[0]
            except TokenError as exc:
                return _answer(400, {"error": "invalid_grant", "error_description": str(exc)})
        else:
            return _answer(
                400, {"error": "unsupported_grant_type", "error_description": f"grant_type {grant!r} is not supported"}
            )
        scopes = field("scope").split()
        body = await self._tokens(principal, scopes, refresh=grant == "password" and field("access_type") == "offline")
        if grant == "refresh_token":
            body["refresh_token"] = field("refresh_token")
        return _answer(200, body)

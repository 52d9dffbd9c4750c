"""Requests to an upstream registry, with its credentials: Basic, or Docker's token flow.

The token flow (Docker Hub's, Distribution's, tinyreg's own with --auth): a request answered
401 with `WWW-Authenticate: Bearer realm=...,service=...,scope=...` is sent again with a token
fetched from the realm (with the mirror's credentials, if any); tokens are kept per scope until
they expire. One `httpx.AsyncClient` serves every mirror; the server's nursery owns it.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

import httpcore
import httpx

from tinyreg.registry.manifests import DOCKER_LIST, DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST
from tinyreg.registry.mirrors import Mirror, parse_challenge

#: Every manifest type the cache keeps: an index rather than one platform's manifest, so that
#: clients of every platform find theirs.
MANIFEST_ACCEPT = ", ".join((OCI_INDEX, DOCKER_LIST, OCI_MANIFEST, DOCKER_MANIFEST))
TOKEN_MARGIN = 10.0  # seconds before its expiry a token is no longer used
#: Bytes asked of the socket per read of a response (httpcore's default: 64 KiB). Each read of a
#: relayed blob costs h11 events, httpx's layers and a checkpoint: 1 MiB reads took the CPU time
#: of receiving a 32 MiB blob from ~75 ms to ~45 ms. A read returns what the socket has: memory
#: stays bounded by this size.
UPSTREAM_READ = 1024 * 1024


def use_large_reads() -> None:
    """Make the upstream client's reads `UPSTREAM_READ` bytes (httpcore's setting is per class:
    every HTTP/1.1 client of the process gets them, which only makes its large bodies cheaper)."""
    httpcore.AsyncHTTP11Connection.READ_NUM_BYTES = UPSTREAM_READ


class UpstreamUnreachable(Exception):
    """No HTTP answer came from the upstream (refused, timed out, TLS failed)."""


@dataclass
class _Token:
    value: str
    expires: float


class Upstream:
    """One mirror's upstream, through a shared client."""

    def __init__(self, mirror: Mirror, client: httpx.AsyncClient) -> None:
        self.mirror = mirror
        self.client = client
        self._tokens: dict[str, _Token] = {}
        self._basic = httpx.BasicAuth(mirror.username, mirror.password) if mirror.username else None

    async def open(self, method: str, repo: str, kind: str, reference: str) -> httpx.Response:
        """Send `method /v2/<repo>/<kind>/<reference>` and return the answer with its body unread
        (the caller closes it); UpstreamUnreachable when none came."""
        url = f"{self.mirror.url}/v2/{repo}/{kind}/{reference}"
        headers = {"Accept": MANIFEST_ACCEPT} if kind == "manifests" else {}
        scope = f"repository:{repo}:pull"
        try:
            response = await self._send(method, url, headers, scope)
            if response.status_code != 401:
                return response
            challenge = response.headers.get("www-authenticate", "")
            await response.aclose()
            scheme, params = parse_challenge(challenge)
            if scheme == "bearer" and params.get("realm"):
                self._tokens.pop(scope, None)
                await self._fetch_token(params, scope)
            # Sent again either way: a refusal is then the upstream's last word, for the caller to report.
            return await self._send(method, url, headers, scope)
        except httpx.HTTPError as exc:
            raise UpstreamUnreachable(f"{type(exc).__name__}: {exc}") from exc

    async def _send(self, method: str, url: str, headers: dict[str, str], scope: str) -> httpx.Response:
        token = self._tokens.get(scope)
        auth: httpx.Auth | None = None
        if token is not None and token.expires > time.monotonic():
            headers = {**headers, "Authorization": f"Bearer {token.value}"}
        else:
            auth = self._basic
        request = self.client.build_request(method, url, headers=headers)
        return await self.client.send(request, auth=auth, stream=True, follow_redirects=True)

    async def _fetch_token(self, params: dict[str, str], scope: str) -> None:
        query = {"service": params.get("service", ""), "scope": params.get("scope") or scope}
        answer = await self.client.get(params["realm"], params={k: v for k, v in query.items() if v}, auth=self._basic)
        if answer.status_code != 200:
            return  # the retried request is refused, and that answer is reported
        try:
            document = answer.json()
            value = document.get("token") or document.get("access_token")
            lifetime = float(document.get("expires_in") or 60)
        except (ValueError, AttributeError, TypeError):
            return
        if isinstance(value, str) and value:
            self._tokens[scope] = _Token(value, time.monotonic() + max(lifetime - TOKEN_MARGIN, 1.0))


async def error_detail(response: httpx.Response) -> str:
    """The message of a registry error body, or the start of whatever came."""
    try:
        body = await response.aread()
    except httpx.HTTPError:
        return ""
    try:
        errors = json.loads(body)["errors"]
        return "; ".join(f"{e.get('code')}: {e.get('message')}" for e in errors)[:300]
    except (ValueError, KeyError, TypeError, AttributeError):
        return body[:200].decode("utf-8", "replace")


def content_length(headers: httpx.Headers) -> int | None:
    """The body length a response announces, None when chunked or encoded."""
    value = headers.get("content-length")
    if value is None or headers.get("content-encoding") or not value.strip().isdigit():
        return None
    return int(value)

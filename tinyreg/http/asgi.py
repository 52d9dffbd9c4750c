"""The little ASGI toolkit the registry API is written with: a request, a response, a writer.

The registry's hot paths (manifest and blob reads) answer straight from ASGI, without a web
framework's per-request machinery.
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from tinyreg.http.routes import Route
from tinyreg.registry.errors import RegistryError
from tinyreg.registry.numbers import parse_count

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


def _anyone(repo: str) -> bool:
    return True


class ClientDisconnected(Exception):
    """The client went away before its request body was complete."""


class ResponseAborted(Exception):
    """Raised by a response's stream that must not end normally (its bytes turned out bad):
    the connection is closed short of the body's end, so the client cannot take it as whole."""


class Request:
    """An HTTP request: method, path, query, headers, and its body as a stream."""

    __slots__ = (
        "scope",
        "_receive",
        "method",
        "path",
        "_query",
        "can_read",
        "body_done",
        "received",
        "route",
        "request_id",
        "actor",
    )

    def __init__(self, scope: Scope, receive: Receive) -> None:
        self.scope = scope
        self._receive = receive
        self.method: str = scope["method"]
        raw_path = scope.get("raw_path")
        # Route on the path as sent: a percent-encoded slash must not become a path separator.
        self.path: str = raw_path.decode("latin-1") if raw_path else scope["path"]
        self.body_done = False
        self.received = 0
        """Body bytes read so far (for the metrics)."""
        self.route: Route | None = None
        """The /v2/ route, once classified (so the metrics need not classify the path again)."""
        self._query: dict[str, list[str]] | None = None
        self.can_read: Callable[[str], bool] = _anyone
        """Whether the caller may pull from another repository (mounts, the catalog)."""
        self.request_id = ""
        """The id every response carries as X-Request-Id (set by the app)."""
        self.actor = ""
        """Who is authenticated (a user's name, a deploy token's), for events; empty when anonymous."""

    def header(self, name: str) -> str | None:
        """The first value of a header (name in lowercase), or None."""
        wanted = name.encode()
        value: bytes
        for key, value in self.scope["headers"]:
            if key == wanted:
                return value.decode("latin-1")
        return None

    def query(self, name: str) -> str | None:
        """The first value of a query parameter, or None."""
        values = self.query_all(name)
        return values[0] if values else None

    def query_all(self, name: str) -> list[str]:
        """Every value of a query parameter."""
        if self._query is None:
            self._query = parse_qs(self.scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
        return self._query.get(name, [])

    @property
    def has_unread_body(self) -> bool:
        """True when the client sent a body this request has not read to its end."""
        if self.body_done:
            return False
        length = self.header("content-length")
        return self.header("transfer-encoding") is not None or (length is not None and length.strip() not in ("", "0"))

    @property
    def content_length(self) -> int | None:
        value = self.header("content-length")
        if value is None:
            return None
        count = parse_count(value.strip())
        if count is None:
            raise RegistryError("SIZE_INVALID", f"invalid Content-Length {value[:50]!r}")
        return count

    async def stream(self) -> AsyncIterator[bytes]:
        """The request body, chunk by chunk as it arrives."""
        while True:
            message = await self._receive()
            if message["type"] == "http.disconnect":
                raise ClientDisconnected()
            chunk = message.get("body", b"")
            if not message.get("more_body", False):
                self.body_done = True
            if chunk:
                self.received += len(chunk)
                yield chunk
            if self.body_done:
                return

    async def read(self, limit: int) -> bytes:
        """The whole body when it is at most `limit` bytes; SIZE_INVALID (413) otherwise."""
        length = self.content_length
        if length is not None and length > limit:
            raise RegistryError("SIZE_INVALID", f"body of {length} bytes is larger than {limit}", status=413)
        body = bytearray()
        async for chunk in self.stream():
            body += chunk
            if len(body) > limit:
                raise RegistryError("SIZE_INVALID", f"body is larger than {limit} bytes", status=413)
        return bytes(body)


@dataclass(slots=True)
class Response:
    """A response: status, headers, and either `body` bytes or a `stream` of them."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    stream: AsyncGenerator[bytes, None] | None = None


def json_response(
    status: int, document: Any, headers: dict[str, str] | None = None, content_type: str = "application/json"
) -> Response:
    """A JSON body with its Content-Type."""
    return Response(status, {"Content-Type": content_type, **(headers or {})}, json.dumps(document).encode())


#: Sent on every `/v2/` and `/token` response. Their bodies are data, never pages: a browser
#: must neither guess another type (nosniff) nor run or show anything in them (the CSP), even
#: for bytes a client pushed.
COMMON_HEADERS = [
    (b"docker-distribution-api-version", b"registry/2.0"),
    (b"x-content-type-options", b"nosniff"),
    (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'; sandbox"),
]


async def send_response(send: Send, response: Response, *, head_only: bool = False) -> int:
    """Write `response`; return how many body bytes were sent."""
    headers = list(COMMON_HEADERS)
    headers.extend((k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in response.headers.items())
    if response.stream is None and "Content-Length" not in response.headers:
        headers.append((b"content-length", str(len(response.body)).encode()))
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    if head_only or response.stream is None:
        body = b"" if head_only else response.body
        await send({"type": "http.response.body", "body": body})
        return len(body)
    sent = 0
    try:
        async for chunk in response.stream:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
            sent += len(chunk)
    finally:
        await response.stream.aclose()
    await send({"type": "http.response.body", "body": b""})
    return sent

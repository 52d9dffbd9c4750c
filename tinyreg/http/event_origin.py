"""What an event records of the request it comes from (see `tinyreg.registry.events`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tinyreg.http.asgi import Request
from tinyreg.http.hosts import announced_host
from tinyreg.http.request_ids import SCOPE_KEY
from tinyreg.registry.events import Origin


def origin_of(request: Request) -> Origin:
    """The request's id, client address, Host, method, User-Agent and authenticated caller."""
    client = request.scope.get("client")
    addr = f"{client[0]}:{client[1]}" if client else ""
    host = announced_host(request)
    scheme = "https" if request.scope.get("scheme") == "https" else "http"
    useragent = request.header("user-agent") or ""
    return Origin(request.request_id, addr, host, request.method, useragent, request.actor, f"{scheme}://{host}")


async def _no_body() -> dict[str, Any]:
    return {"type": "http.request", "body": b"", "more_body": False}


def origin_of_page(scope: Mapping[str, Any], actor: str) -> Origin:
    """The origin of a change made through the panel or the GitLab API (their ASGI `scope`), by
    `actor`, the signed-in user; the request's id is the one its response carries."""
    request = Request(dict(scope), _no_body)  # read only: the page's own request is Quart's
    request.request_id = str(scope.get(SCOPE_KEY, ""))
    request.actor = actor
    return origin_of(request)

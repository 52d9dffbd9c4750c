"""What an event records of the request it comes from (see `tinyreg.registry.events`)."""

from __future__ import annotations

from tinyreg.http.asgi import Request
from tinyreg.http.hosts import announced_host
from tinyreg.registry.events import Origin


def origin_of(request: Request) -> Origin:
    """The request's id, client address, Host, method, User-Agent and authenticated caller."""
    client = request.scope.get("client")
    addr = f"{client[0]}:{client[1]}" if client else ""
    host = announced_host(request)
    scheme = "https" if request.scope.get("scheme") == "https" else "http"
    useragent = request.header("user-agent") or ""
    return Origin(request.request_id, addr, host, request.method, useragent, request.actor, f"{scheme}://{host}")

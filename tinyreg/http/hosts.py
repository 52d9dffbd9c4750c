"""The host a request was addressed to, when it can be repeated safely (in a challenge, a URL)."""

from __future__ import annotations

import re

from tinyreg.http.asgi import Request

#: A host name or IPv4 address, or a bracketed IPv6 address, with an optional port.
_HOST = re.compile(
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?"
)


def announced_host(request: Request) -> str:
    """The request's Host when it is a well-formed host[:port], else the address the server listens on.

    The Host header is the client's to choose; copied as is into the challenge it could add
    parameters to it or send the client's credentials elsewhere.
    """
    host = request.header("host") or ""
    if _HOST.fullmatch(host) and len(host) <= 261:
        return host
    server = request.scope.get("server") or ("127.0.0.1", None)
    address = f"[{server[0]}]" if ":" in str(server[0]) else str(server[0])
    return f"{address}:{server[1]}" if server[1] else address

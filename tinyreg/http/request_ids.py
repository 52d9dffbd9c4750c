"""Request ids: every response carries `X-Request-Id`, the access log line too.

A client's (or a proxy's) own id is kept when it is sane: short, and of characters that cannot
break a log line or a header. Otherwise a random one is made (64 bits: unique enough to find
one request among a day's, cheap enough for every request).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable

HEADER = b"x-request-id"
#: Where a page's or API call's id waits in the ASGI scope, for the events it causes.
SCOPE_KEY = "tinyreg.request_id"
_SANE = re.compile(rb"[A-Za-z0-9._:/+=-]{1,128}")


def request_id(headers: Iterable[tuple[bytes, bytes]]) -> str:
    """The request's id: its sane `X-Request-Id`, or a new one."""
    for name, value in headers:
        if name == HEADER:
            if _SANE.fullmatch(value):
                return value.decode("ascii")
            break
    return os.urandom(8).hex()

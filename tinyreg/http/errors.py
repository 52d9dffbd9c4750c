"""Turn a `RegistryError` (or any failure) into the spec's JSON error response."""

from __future__ import annotations

import json

from tinyreg.http.asgi import Response
from tinyreg.registry.errors import RegistryError


def error_response(error: RegistryError) -> Response:
    """`{"errors": [...]}` with the error's status and any headers it carries."""
    body = json.dumps({"errors": [error.to_json()]}).encode()
    headers = {"Content-Type": "application/json; charset=utf-8", **error.headers}
    return Response(error.status, headers, body)


def internal_error() -> Response:
    return error_response(RegistryError("UNKNOWN", "internal server error; see the registry's log"))

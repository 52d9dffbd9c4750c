"""Every error `/api/v4` answers, in GitLab's shape, written in one place.

GitLab answers `{"message": "404 Project Not Found"}` for missing things and refusals,
`{"error": "per_page is invalid"}` for parameters it cannot use, and `{"message": ...}` with 409
for conflicts; python-gitlab turns each into its exception by status code.
"""

from __future__ import annotations

import json
from typing import Any

from quart import Response


class ApiError(Exception):
    """An answer other than success: its status and GitLab's body."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(f"{status} {body}")
        self.status = status
        self.body = body

    def response(self) -> Response:
        return json_response(self.body, self.status)


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A JSON answer (lists too, which Quart would not turn into JSON by itself)."""
    return Response(json.dumps(body), status=status, content_type="application/json", headers=headers)


def not_found(what: str) -> ApiError:
    """404 `{"message": "404 <what> Not Found"}`, as GitLab says of a missing or hidden project, group, …"""
    return ApiError(404, {"message": f"404 {what} Not Found"})


def unauthorized() -> ApiError:
    return ApiError(401, {"message": "401 Unauthorized"})


def forbidden(reason: str | None = None) -> ApiError:
    return ApiError(403, {"message": f"403 Forbidden - {reason}" if reason else "403 Forbidden"})


def bad_request(error: str) -> ApiError:
    """400 `{"error": ...}`: a parameter missing, invalid or of no valid value."""
    return ApiError(400, {"error": error})


def bad_message(message: str) -> ApiError:
    """400 `{"message": ...}`, as GitLab says of a request it validated and could not do."""
    return ApiError(400, {"message": message})


def conflict(message: str) -> ApiError:
    return ApiError(409, {"message": message})

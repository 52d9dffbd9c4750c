"""The registry's one error type and the spec's error codes.

Anything below the HTTP layer raises `RegistryError`; `tinyreg.http.errors` writes it as
`{"errors": [{"code", "message", "detail"}]}` with its status. Handlers never format errors.
"""

from __future__ import annotations

from typing import Any, Literal, get_args

#: Every code the registry can answer with: a misspelt code is a type error, not a 500 at run time.
ErrorCode = Literal[
    "BLOB_UNKNOWN",
    "BLOB_UPLOAD_INVALID",
    "BLOB_UPLOAD_UNKNOWN",
    "DIGEST_INVALID",
    "MANIFEST_BLOB_UNKNOWN",
    "MANIFEST_INVALID",
    "MANIFEST_UNKNOWN",
    "NAME_INVALID",
    "NAME_UNKNOWN",
    "SIZE_INVALID",
    "TAG_INVALID",
    "RANGE_INVALID",
    "PAGINATION_NUMBER_INVALID",
    "UNAUTHORIZED",
    "DENIED",
    "UNSUPPORTED",
    "NOT_FOUND",
    "TOOMANYREQUESTS",
    "UNKNOWN",
]

#: code -> (HTTP status, default message), from the OCI Distribution Spec and Docker's V2 API.
ERROR_CODES: dict[ErrorCode, tuple[int, str]] = {
    "BLOB_UNKNOWN": (404, "blob unknown to registry"),
    "BLOB_UPLOAD_INVALID": (400, "blob upload invalid"),
    "BLOB_UPLOAD_UNKNOWN": (404, "blob upload unknown to registry"),
    "DIGEST_INVALID": (400, "provided digest did not match uploaded content"),
    "MANIFEST_BLOB_UNKNOWN": (400, "manifest references a blob unknown to this repository"),
    "MANIFEST_INVALID": (400, "manifest invalid"),
    "MANIFEST_UNKNOWN": (404, "manifest unknown"),
    "NAME_INVALID": (400, "invalid repository name"),
    "NAME_UNKNOWN": (404, "repository name not known to registry"),
    "SIZE_INVALID": (400, "provided length did not match content length"),
    "TAG_INVALID": (400, "manifest tag did not match URI"),
    "RANGE_INVALID": (416, "invalid content range"),
    "PAGINATION_NUMBER_INVALID": (400, "invalid number of results requested"),
    "UNAUTHORIZED": (401, "authentication required"),
    "DENIED": (403, "requested access to the resource is denied"),
    "UNSUPPORTED": (405, "the operation is unsupported"),
    "NOT_FOUND": (404, "no such endpoint"),
    "TOOMANYREQUESTS": (429, "too many requests"),
    "UNKNOWN": (500, "unknown error"),
}
assert set(ERROR_CODES) == set(get_args(ErrorCode)), "every code has a status and a message"


class RegistryError(Exception):
    """A failure the client should hear about, with the spec's code and HTTP status."""

    def __init__(
        self,
        code: ErrorCode,
        message: str | None = None,
        *,
        detail: Any = None,
        status: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        default_status, default_message = ERROR_CODES[code]
        self.code = code
        self.message = message or default_message
        self.detail = detail
        self.status = status or default_status
        self.headers = headers or {}
        super().__init__(f"{code}: {self.message}")

    def to_json(self) -> dict[str, Any]:
        """The error as one entry of the spec's `errors` list."""
        entry: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.detail is not None:
            entry["detail"] = self.detail
        return entry

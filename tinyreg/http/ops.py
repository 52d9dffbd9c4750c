"""The endpoints for operators: `/readyz` (can it take pushes now?) and, later, `/metrics`.

Served by the registry's own ASGI layer (not the web app), so a probe costs no page framework.
`/healthz` (is the process alive?) stays with the web app.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from tinyreg.http.asgi import Request, Response, json_response
from tinyreg.registry.core import Registry
from tinyreg.registry.health import readiness_problems

MiB = 1024 * 1024


@dataclass(frozen=True)
class OpsSettings:
    """What the operators' endpoints need from the settings."""

    min_free_bytes: int = 0


OpsHandler = Callable[[Registry, Request, OpsSettings], Awaitable[Response]]


async def readyz(registry: Registry, request: Request, ops: OpsSettings) -> Response:
    """200 when metadata and blob storage take writes and space is left; 503 with the reasons otherwise."""
    problems = readiness_problems(registry.meta, registry.store, ops.min_free_bytes)
    headers = {"Cache-Control": "no-store"}
    if problems:
        return json_response(503, {"status": "not ready", "reasons": problems}, headers)
    return json_response(200, {"status": "ready"}, headers)


HANDLERS: dict[str, OpsHandler] = {"/readyz": readyz}

"""The endpoints for operators: `/readyz` (can it take pushes now?) and `/metrics`.

Served by the registry's own ASGI layer (not the web app), so a probe costs no page framework.
`/healthz` (is the process alive?) stays with the web app.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tinyreg.http.asgi import Request, Response, json_response
from tinyreg.http.metrics import Metrics, Peers
from tinyreg.registry.core import Registry
from tinyreg.registry.errors import RegistryError
from tinyreg.registry.health import readiness_problems
from tinyreg.registry.offload import call_meta, call_stores

if TYPE_CHECKING:
    from tinyreg.access.control import AccessControl


@dataclass(frozen=True)
class OpsSettings:
    """What the operators' endpoints need from the settings."""

    min_free_bytes: int = 0
    metrics: str = "loopback"
    """Who may read /metrics: open, loopback, token:<secret>, admin or off (then nothing is counted)."""
    workers: int = 1
    peers: Peers | None = None
    """With several workers: where each shares its counts with the others."""


@dataclass(frozen=True)
class OpsContext:
    registry: Registry
    settings: OpsSettings
    access: AccessControl | None
    metrics: Metrics | None


async def readyz(context: OpsContext, request: Request) -> Response:
    """200 when metadata and blob storage take writes and space is left; 503 with the reasons otherwise."""
    registry = context.registry
    problems = await call_stores(
        registry.meta, registry.store, readiness_problems, registry.meta, registry.store, context.settings.min_free_bytes
    )
    headers = {"Cache-Control": "no-store"}
    if problems:
        return json_response(503, {"status": "not ready", "reasons": problems}, headers)
    return json_response(200, {"status": "ready"}, headers)


async def metrics(context: OpsContext, request: Request) -> Response:
    """The counts in the Prometheus text format, to whoever the `metrics` setting lets in."""
    if context.metrics is None:
        raise RegistryError("NOT_FOUND", "no endpoint at /metrics")
    from tinyreg.http.metrics_export import check_scraper, render  # prometheus_client: on the first scrape only

    await check_scraper(context.settings.metrics, request, context.access)
    counts = context.metrics.snapshot()
    return await call_meta(context.registry.meta, render, context.registry, counts, context.metrics.workers)


HANDLERS: dict[str, Callable[[OpsContext, Request], Awaitable[Response]]] = {"/readyz": readyz, "/metrics": metrics}

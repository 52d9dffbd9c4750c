"""`GET /metrics`: who may read it, and the counts in the Prometheus text format.

prometheus_client is imported here, on the first scrape, never at start-up. Who may scrape is
the `metrics` setting: `open`, `loopback` (the default: clients on this machine), `token:SECRET`
(`Authorization: Bearer SECRET`), `admin` (an admin's user name and password or token, Basic),
or `off` (no endpoint).
"""

from __future__ import annotations

import hmac
import ipaddress
from collections import defaultdict
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from tinyreg.access.paths import project_of
from tinyreg.http.asgi import Request, Response
from tinyreg.http.auth import basic_credentials, bearer_token, client_address
from tinyreg.http.metrics import HOUSEKEEPING, LATENCY_BOUNDS, Counts
from tinyreg.registry.core import Registry
from tinyreg.registry.errors import RegistryError

if TYPE_CHECKING:
    from tinyreg.access.control import AccessControl


def _is_loopback(address: str) -> bool:
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return False
    if isinstance(parsed, ipaddress.IPv6Address) and parsed.ipv4_mapped is not None:
        return parsed.ipv4_mapped.is_loopback
    return parsed.is_loopback


async def check_scraper(mode: str, request: Request, access: AccessControl | None) -> None:
    """Raise the RegistryError that refuses this scrape under `mode`, if any."""
    if mode == "open":
        return
    if mode == "off":
        raise RegistryError("NOT_FOUND", "no endpoint at /metrics")
    if mode == "loopback":
        client = (request.scope.get("client") or ("",))[0]
        if not _is_loopback(client):
            raise RegistryError("DENIED", "/metrics answers clients on the registry's machine only")
        return
    header = request.header("authorization") or ""
    challenge = {"WWW-Authenticate": 'Bearer realm="metrics"' if mode.startswith("token:") else 'Basic realm="metrics"'}
    if mode.startswith("token:"):
        given = bearer_token(header) or ""
        if not hmac.compare_digest(given.encode(), mode[len("token:") :].encode()):
            raise RegistryError("UNAUTHORIZED", "/metrics needs its bearer token", headers=challenge)
        return
    credentials = basic_credentials(header)
    if access is None or credentials is None:
        raise RegistryError("UNAUTHORIZED", "/metrics needs an admin's credentials", headers=challenge)
    principal, _ = await access.authenticate(*credentials, client_address(request))
    if principal is None or not principal.admin:
        raise RegistryError("UNAUTHORIZED", "/metrics needs an admin's credentials", headers=challenge)


def _per_project(registry: Registry, counts: Counts) -> tuple[dict[tuple[str, str], int], int]:
    """Pushes, pulls and deletes summed per project (the repository itself when no project owns it),
    and the uploads in progress."""
    per_project: defaultdict[tuple[str, str], int] = defaultdict(int)
    with registry.meta.read() as reader:
        for (action, repository), value in counts.actions.items():
            name = unquote(repository)
            owner = project_of(name, lambda path: reader.project(path) is not None)
            per_project[action, owner or name] += value
        uploads = sum(1 for _ in reader.iter_uploads())
    return per_project, uploads


def _storage(registry: Registry) -> Iterator[Any]:
    """Stored bytes per project (counted the GitLab way: distinct blobs and manifests) and in all."""
    from prometheus_client.core import GaugeMetricFamily

    per_project = GaugeMetricFamily("tinyreg_project_storage_bytes", "Bytes a project's images use", labels=["project"])
    with registry.meta.read() as reader:
        for project, total in reader.usage_totals("project"):
            per_project.add_metric([project], total)
        stored = reader.stored_bytes()
    yield per_project
    yield GaugeMetricFamily("tinyreg_storage_bytes", "Bytes of every stored blob and manifest", value=stored)


def _families(registry: Registry, counts: Counts, workers: int) -> Iterator[Any]:
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

    requests = CounterMetricFamily("tinyreg_http_requests", "Requests answered", labels=["route", "method", "status"])
    for (route, method, status), value in sorted(counts.requests.items()):
        requests.add_metric([route, method, str(status)], value)
    yield requests
    latency = HistogramMetricFamily(
        "tinyreg_http_request_duration_seconds", "Time to answer a request", labels=["route", "method"]
    )
    for (route, method), buckets in sorted(counts.latency.items()):
        cumulative, points = 0.0, []
        for bound, count in zip([*map(str, LATENCY_BOUNDS), "+Inf"], buckets[:-1], strict=True):
            cumulative += count
            points.append((bound, cumulative))
        latency.add_metric([route, method], points, sum_value=buckets[-1])
    yield latency
    for name, by_route, what in (
        ("received", counts.received, "Request body bytes read"),
        ("sent", counts.sent, "Response body bytes sent"),
    ):
        family = CounterMetricFamily(f"tinyreg_http_{name}_bytes", what, labels=["route"])
        for route, value in sorted(by_route.items()):
            family.add_metric([route], value)
        yield family
    per_project, uploads = _per_project(registry, counts)
    for action, plural in (("push", "pushes"), ("pull", "pulls"), ("delete", "deletes")):
        family = CounterMetricFamily(f"tinyreg_{plural}", f"Manifest {plural} that succeeded", labels=["project"])
        for (done, project), value in sorted(per_project.items()):
            if done == action:
                family.add_metric([project], value)
        yield family
    yield from _event_families(registry)
    yield CounterMetricFamily("tinyreg_failed_logins", "Credentials refused (401)", value=counts.failed_logins)
    yield GaugeMetricFamily("tinyreg_uploads_in_progress", "Upload sessions open", value=uploads)
    for name, what in HOUSEKEEPING.items():
        yield CounterMetricFamily(f"tinyreg_{name}", what, value=counts.housekeeping.get(name, 0))
    yield from _storage(registry)
    yield GaugeMetricFamily("tinyreg_workers", "Processes serving the registry", value=workers)


#: The counts each event queue keeps in storage (so every worker reports the same, across restarts).
EVENT_COUNTERS = (
    ("tinyreg_notification_events_queued", "queued", "Events queued for delivery"),
    ("tinyreg_notification_events_delivered", "delivered", "Events delivered (answered 2xx)"),
    ("tinyreg_notification_attempts_failed", "failed", "Delivery attempts that failed"),
    ("tinyreg_notification_events_dropped", "dropped", "Events dropped because the endpoint's queue was full"),
)


def _event_families(registry: Registry) -> Iterator[Any]:
    """Per endpoint (`endpoint:<name>`, `hook:<id>`): events queued, delivered, dropped, failed attempts, pending."""
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

    with registry.meta.read() as reader:
        states = list(reader.iter_event_states())
    for metric, key, what in EVENT_COUNTERS:
        family = CounterMetricFamily(metric, what, labels=["endpoint"])
        for queue, state in states:
            family.add_metric([queue], state[key])  # type: ignore[literal-required]  # keys of EventQueueState
        yield family
    pending = GaugeMetricFamily("tinyreg_notification_events_pending", "Events waiting for delivery", labels=["endpoint"])
    for queue, state in states:
        pending.add_metric([queue], state["pending"])
    yield pending


def render(registry: Registry, counts: Counts, workers: int) -> Response:
    """The /metrics answer: every family, in the Prometheus text format. It reads the metadata
    store: called as its other readers are (`call_meta`), with a snapshot of the counts."""
    from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
    from prometheus_client.registry import Collector

    class Counted(Collector):
        def collect(self) -> Iterator[Any]:
            return _families(registry, counts, workers)

    collectors = CollectorRegistry(auto_describe=False)
    collectors.register(Counted())
    return Response(200, {"Content-Type": CONTENT_TYPE_LATEST, "Cache-Control": "no-store"}, generate_latest(collectors))

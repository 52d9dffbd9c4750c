"""What `/metrics` reports, counted as requests are answered.

The hot path costs a few dictionary increments per request: plain Python numbers, no
prometheus_client object (that library is imported only when `/metrics` is scraped, see
`metrics_export.py`). Pushes, pulls and deletes are counted per repository here and summed per
project when scraped, so no project lookup happens while serving.

With `--workers N` every worker shares its counts with the others (`share`, about once a second
when they changed, through `Peers`); the worker that answers a scrape adds its live counts to
the other workers' latest ones.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import defaultdict
from typing import Any, Protocol

import trio

from tinyreg.http.asgi import Request
from tinyreg.http.routes import Route, classify

#: Upper bounds (seconds) of the latency histogram's buckets; the last one is +Inf.
LATENCY_BOUNDS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
SHARE_INTERVAL = 1.0
#: What housekeeping runs are counted by, with the help text of each (`tinyreg_<name>_total`).
HOUSEKEEPING = {
    "gc_runs": "Garbage collections run by the server",
    "gc_blobs_removed": "Blobs garbage collection removed",
    "gc_bytes_freed": "Bytes of blobs garbage collection removed",
    "cleanup_runs": "Cleanup policy runs (one per project and look)",
    "cleanup_tags_removed": "Tags cleanup policies removed",
    "cleanup_manifests_removed": "Manifests cleanup runs deleted because they left them untagged",
}
OTHER_ROUTES = {"/token": "token", "/readyz": "readyz", "/metrics": "metrics"}


def route_name(path: str, route: Route | None) -> str:
    """The resource a request is counted under: its /v2/ `route`'s, an operators' endpoint, or `web`."""
    if route is not None:
        return route.resource
    return "unknown" if path.startswith("/v2") else OTHER_ROUTES.get(path, "web")


def route_of(path: str) -> str:
    """`route_name` of a path not classified yet."""
    return route_name(path, classify(path) if path.startswith("/v2") else None)


def repository_action(method: str, status: int) -> str | None:
    """What a successful request on a manifest did to its repository: push, pull, delete, or None."""
    if method == "PUT" and status == 201:
        return "push"
    if method == "GET" and status == 200:
        return "pull"
    if method == "DELETE" and status == 202:
        return "delete"
    return None


def is_failed_login(route: str, method: str, status: int, authorization: str | None) -> bool:
    """A 401 to credentials: Basic ones on /v2/ or GET /token, a password grant on POST /token.

    A 401 to a request without credentials is the ordinary start of a login, not a failure, and
    an expired bearer token on /v2/ is no login at all.
    """
    if status != 401:
        return False
    if route == "token" and method == "POST":
        return True  # only a refused password grant is answered 401 there
    return authorization is not None and authorization[:6].lower() == "basic "


class Peers(Protocol):
    """Where the workers share their counts (`tinyreg.metrics_share.SharedCounts`)."""

    def write(self, document: dict[str, Any]) -> None: ...
    def others(self) -> list[dict[str, Any]]: ...


class Counts:
    """Every number of one process (or, merged, of several)."""

    def __init__(self) -> None:
        self.requests: defaultdict[tuple[str, str, int], int] = defaultdict(int)
        self.latency: dict[tuple[str, str], list[float]] = {}  # bucket counts (not cumulative), then the sum
        self.received: defaultdict[str, int] = defaultdict(int)
        self.sent: defaultdict[str, int] = defaultdict(int)
        self.actions: defaultdict[tuple[str, str], int] = defaultdict(int)  # (push|pull|delete, repository)
        self.failed_logins = 0
        self.housekeeping: defaultdict[str, int] = defaultdict(int)  # HOUSEKEEPING name -> total

    def to_json(self) -> dict[str, Any]:
        return {
            "requests": [[*key, value] for key, value in self.requests.items()],
            "latency": [[*key, value] for key, value in self.latency.items()],
            "received": self.received,
            "sent": self.sent,
            "actions": [[*key, value] for key, value in self.actions.items()],
            "failed_logins": self.failed_logins,
            "housekeeping": self.housekeeping,
        }

    def add(self, document: dict[str, Any]) -> None:
        """Add the counts of `to_json`'s `document` (another worker's) to these."""
        for route, method, status, value in document["requests"]:
            self.requests[route, method, status] += value
        for route, method, buckets in document["latency"]:
            mine = self.latency.setdefault((route, method), [0.0] * (len(LATENCY_BOUNDS) + 2))
            for index, value in enumerate(buckets):
                mine[index] += value
        for route, value in document["received"].items():
            self.received[route] += value
        for route, value in document["sent"].items():
            self.sent[route] += value
        for action, repository, value in document["actions"]:
            self.actions[action, repository] += value
        self.failed_logins += document["failed_logins"]
        for name, value in document.get("housekeeping", {}).items():
            self.housekeeping[name] += value


class Metrics:
    """The live counts of this process, and how to combine them with the other workers'."""

    def __init__(self, workers: int = 1, peers: Peers | None = None) -> None:
        self.workers = workers
        self.peers = peers
        self.counts = Counts()
        self.changed = False

    def observe(self, request: Request, status: int, sent: int, seconds: float) -> None:
        """Count one answered request (the hot path: keep it to a few increments)."""
        path, method, counts = request.path, request.method, self.counts
        found = request.route  # classified while dispatching
        route = route_name(path, found)
        counts.requests[route, method, status] += 1
        latency = counts.latency.get((route, method))
        if latency is None:
            latency = counts.latency[route, method] = [0.0] * (len(LATENCY_BOUNDS) + 2)
        latency[bisect_left(LATENCY_BOUNDS, seconds)] += 1
        latency[-1] += seconds
        if request.received:
            counts.received[route] += request.received
        counts.sent[route] += sent
        if route == "manifests" and found is not None:
            action = repository_action(method, status)
            if action is not None:
                counts.actions[action, found.name] += 1
        if status == 401 and is_failed_login(route, method, status, request.header("authorization")):
            counts.failed_logins += 1
        self.changed = True

    def count_housekeeping(self, name: str, amount: int = 1) -> None:
        """Count what a cleanup or garbage collection run of this process did (`HOUSEKEEPING` names)."""
        self.counts.housekeeping[name] += amount
        self.changed = True

    def totals(self) -> Counts:
        """This worker's counts plus the latest ones the other workers shared."""
        if self.peers is None:
            return self.counts
        total = Counts()
        total.add(self.counts.to_json())
        for document in self.peers.others():
            total.add(document)
        return total

    def snapshot(self) -> Counts:
        """A copy of `totals()`, to be read off the event loop while the counting goes on."""
        copy = Counts()
        copy.add(self.totals().to_json())
        return copy

    def write_share(self) -> None:
        """Write this worker's counts for the others."""
        if self.peers is None:
            return
        self.changed = False
        self.peers.write(self.counts.to_json())

    async def share(self) -> None:
        """Keep this worker's shared counts current (about once a second, when something changed)."""
        try:
            while True:
                await trio.sleep(SHARE_INTERVAL)
                if self.changed:
                    self.write_share()
        finally:
            with trio.CancelScope(shield=True):
                self.write_share()  # the last counts of a stopping worker still count

"""The panel workload: one repository with 10,000 tags, seeded the same on both servers.

tinyreg's side times its pages and API over that repository, request by request: the tag page
sorted by name and by published time (each a page of 20 tags with sizes and layer counts), the
project's registry page and the API's tag list. Distribution has no page; its side of the ratio
is the nearest thing it serves, the whole `/v2/` tag list of the same repository.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

from bench_http import Connection, expect
from bench_servers import Server
from bench_workloads import Context, Measure, Workload, bench_image, seed_image

PANEL_TAGS = 10_000
PROJECT = "perf"
REPO = "perf/panel"
REQUESTS = 30


def setup_panel(ctx: Context, server: Server) -> dict[str, Any]:
    tags = [f"t{i:05d}" for i in range(PANEL_TAGS)]
    seed_image(server, REPO, bench_image("panel"), tags, concurrency=8)
    return {"tags": tags}


def _latencies(conn: Connection, path: str, must_contain: bytes, what: str) -> list[float]:
    """Milliseconds of REQUESTS sequential GETs of `path`, each answer checked, after one untimed
    GET (the first page request imports Quart and compiles the templates)."""
    conn.request("GET", path)
    times = []
    for _ in range(REQUESTS):
        began = time.perf_counter()
        reply = conn.request("GET", path)
        times.append((time.perf_counter() - began) * 1000)
        expect(
            reply.status == 200 and must_contain in reply.body,
            f"{what}: GET {path} answered {reply.status}: {reply.body[:300]!r}",
        )
    return times


def _p99(values: list[float]) -> float:
    return sorted(values)[min(len(values) - 1, int(len(values) * 0.99))]


def run_panel(ctx: Context, server: Server, state: dict[str, Any], round_no: int) -> list[Measure]:
    conn = server.connection()
    try:
        if server.name == "distribution":
            baseline = _latencies(conn, f"/v2/{REPO}/tags/list", b"t09999", server.name)
            pages = {name: baseline for name in PAGES}
        else:
            pages = {name: _latencies(conn, path, marker, f"{server.name} {name}") for name, (path, marker) in PAGES.items()}
    finally:
        conn.close()
    measures = []
    for name, times in pages.items():
        measures.append(
            Measure(f"{name}, {PANEL_TAGS:,} tags (vs Distribution's tag list) median", "ms", statistics.median(times), False)
        )
        measures.append(Measure(f"{name}, {PANEL_TAGS:,} tags (vs Distribution's tag list) p99", "ms", _p99(times), False))
    return measures


PAGES = {
    "panel tag page by name": (f"/{REPO}/-/tags?sort=name", b"t00000"),
    "panel tag page by published": (f"/{REPO}/-/tags?sort=published", b"t0"),
    "panel registry page": (f"/{PROJECT}/-/container_registry", REPO.encode()),
}

WORKLOAD = Workload("panel", setup_panel, run_panel)

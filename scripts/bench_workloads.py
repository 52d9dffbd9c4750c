"""The benchmark workloads. Each has a `setup` (seeds the same content into one server, untimed)
and a `run` (one timed round on one server, checking every answer) that returns measures.

Every repository is under `perf/` except the catalog's `catalog/rNNNN`, which therefore come first
in the catalog of both servers.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import bench_http as h
from bench_http import Body, Connection, Image, KiB, MiB, expect
from bench_load import run_threads, run_wrk
from bench_servers import Server


@dataclass(frozen=True)
class Profile:
    """Sizes and counts of one benchmark run (full or --quick)."""

    small_size: int
    small_count: int
    push_sizes: tuple[int, ...]
    chunked: tuple[int, int]
    pull_sizes: tuple[int, ...]
    parallel: tuple[int, int]
    concurrency: tuple[int, ...]
    listing_count: int
    manifest_puts: int
    wrk_seconds: float
    loop_requests: int
    reference_mib: int
    startup_runs: int
    cold_runs: int
    mirror_layer: int


FULL = Profile(
    KiB,
    300,
    (MiB, 64 * MiB, 512 * MiB),
    (256 * MiB, 8 * MiB),
    (MiB, 512 * MiB),
    (8, 64 * MiB),
    (1, 16, 64),
    1000,
    500,
    5,
    1000,
    512,
    20,
    10,
    32 * MiB,
)
QUICK = Profile(
    KiB, 50, (MiB, 16 * MiB), (32 * MiB, 8 * MiB), (MiB, 16 * MiB), (8, 4 * MiB), (1, 16), 100, 50, 1, 200, 128, 10, 3, 4 * MiB
)


@dataclass(frozen=True)
class Measure:
    """One number of one round on one server; `value` None when the server cannot do it."""

    metric: str
    unit: str
    value: float | None
    higher_is_better: bool = True


@dataclass
class Context:
    """What every workload needs: sizes, CPUs, scratch space."""

    profile: Profile
    client_cpus: str
    workdir: Path
    wrk_script: Path


def size_name(size: int) -> str:
    return f"{size // MiB} MiB" if size >= MiB else f"{size // KiB} KiB"


def repeat_count(size: int) -> int:
    """How many blobs of `size` one timed round moves, so that small sizes are not all noise."""
    return max(1, min(32, (32 * MiB) // size))


def timed(action: Callable[[], None]) -> float:
    """Seconds `action` takes."""
    began = time.perf_counter()
    action()
    return time.perf_counter() - began


def mib_per_s(total: int, seconds: float) -> float:
    return total / MiB / seconds


def bench_image(seed: str) -> Image:
    return Image(Body(f"{seed}-config", 512), Body(f"{seed}-layer", 4 * KiB))


# -- blob pushes ------------------------------------------------------------------------------


def setup_single_post(ctx: Context, server: Server) -> dict[str, Any]:
    conn = server.connection()
    try:
        return {"single": h.supports_single_post(conn, "perf/push-probe", Body("single-post-probe", KiB))}
    finally:
        conn.close()


def _push_many(ctx: Context, server: Server, bodies: list[Body], repo: str, single: bool) -> float:
    for body in bodies:
        _ = body.digest  # computed before timing
    conn = server.connection()
    push = h.push_single_checked if single else h.push_portable
    try:
        seconds = timed(lambda: [push(conn, repo, body) for body in bodies])
        for body in bodies:
            h.check_blob(conn, repo, body)
    finally:
        conn.close()
    return seconds


def run_push_small(ctx: Context, server: Server, state: dict[str, Any], round_no: int) -> list[Measure]:
    p = ctx.profile
    label = f"push {size_name(p.small_size)} x{p.small_count}"
    measures = []
    for single, form in ((False, "POST+PUT"), (True, "single POST")):
        value = None
        if not single or state["single"]:
            bodies = [Body(f"small-{form}-r{round_no}-{i}", p.small_size) for i in range(p.small_count)]
            value = p.small_count / _push_many(ctx, server, bodies, "perf/push-small", single)
        measures.append(Measure(f"{label} ({form})", "blobs/s", value))
    return measures


def run_push(ctx: Context, server: Server, state: dict[str, Any], round_no: int) -> list[Measure]:
    measures = []
    largest = max(ctx.profile.push_sizes)
    for size in ctx.profile.push_sizes:
        count = repeat_count(size)
        label = f"push {size_name(size)}" + (f" x{count}" if count > 1 else "")
        for single, form in ((False, "POST+PUT"), (True, "single POST")):
            value, watch = None, size == largest and not single
            if not single or state["single"]:
                bodies = [Body(f"push-{form}-{size}-r{round_no}-{i}", size) for i in range(count)]
                for body in bodies:
                    _ = body.digest
                if watch:
                    server.reset_peak_rss()
                value = mib_per_s(size * count, _push_many(ctx, server, bodies, "perf/push", single))
            measures.append(Measure(f"{label} ({form})", "MiB/s", value))
            if watch:
                measures.append(Measure(f"peak RSS during push {size_name(size)}", "MiB", server.peak_rss_mib(), False))
    return measures


def run_push_chunked(ctx: Context, server: Server, state: None, round_no: int) -> list[Measure]:
    size, chunk = ctx.profile.chunked
    body = Body(f"chunked-r{round_no}", size)
    _ = body.digest
    conn = server.connection()
    try:
        seconds = timed(lambda: h.push_chunked(conn, "perf/chunked", body, chunk))
        h.check_blob(conn, "perf/chunked", body)
    finally:
        conn.close()
    return [Measure(f"chunked push {size_name(size)} in {size_name(chunk)} PATCHes", "MiB/s", mib_per_s(size, seconds))]


# -- blob pulls -------------------------------------------------------------------------------


def _seed_blobs(server: Server, repo: str, bodies: list[Body]) -> list[Body]:
    conn = server.connection()
    try:
        for body in bodies:
            h.push_portable(conn, repo, body)
            h.check_blob(conn, repo, body)
    finally:
        conn.close()
    return bodies


def setup_pull(ctx: Context, server: Server) -> list[Body]:
    return _seed_blobs(server, "perf/pull", [Body(f"pull-{size}", size) for size in ctx.profile.pull_sizes])


def run_pull(ctx: Context, server: Server, bodies: list[Body], round_no: int) -> list[Measure]:
    measures = []
    largest = max(body.size for body in bodies)
    conn = server.connection()
    try:
        for body in bodies:
            count = repeat_count(body.size)
            watch = body.size == largest
            if watch:
                server.reset_peak_rss()
            seconds = timed(lambda body=body, count=count: [h.pull_blob(conn, "perf/pull", body) for _ in range(count)])
            label = f"pull {size_name(body.size)}" + (f" x{count}" if count > 1 else "")
            measures.append(Measure(label, "MiB/s", mib_per_s(body.size * count, seconds)))
            if watch:
                measures.append(Measure(f"peak RSS during pull {size_name(body.size)}", "MiB", server.peak_rss_mib(), False))
    finally:
        conn.close()
    return measures


def setup_pull_parallel(ctx: Context, server: Server) -> list[Body]:
    streams, size = ctx.profile.parallel
    return _seed_blobs(server, "perf/pull-parallel", [Body(f"parallel-{i}", size) for i in range(streams)])


def run_pull_parallel(ctx: Context, server: Server, bodies: list[Body], round_no: int) -> list[Measure]:
    rate = run_threads(
        server.host,
        server.port,
        server.name,
        len(bodies),
        len(bodies),
        lambda conn, i: h.pull_blob(conn, "perf/pull-parallel", bodies[i]),
    )
    seconds = len(bodies) / rate.per_second
    label = f"pull {len(bodies)} streams x {size_name(bodies[0].size)}"
    return [Measure(label, "MiB/s", mib_per_s(sum(b.size for b in bodies), seconds))]


# -- manifests --------------------------------------------------------------------------------


def seed_image(server: Server, repo: str, image: Image, tags: list[str], concurrency: int = 8) -> bytes:
    """Push the image's blobs and its manifest under each of `tags`; return the manifest."""
    data = image.manifest("bench")
    conn = server.connection()
    try:
        h.push_image_blobs(conn, repo, image)
    finally:
        conn.close()
    run_threads(
        server.host,
        server.port,
        server.name,
        min(concurrency, len(tags)),
        len(tags),
        lambda conn, i: h.put_manifest(conn, repo, tags[i], data),
    )
    return data


def setup_manifest_put(ctx: Context, server: Server) -> Image:
    image = bench_image("manifest-put")
    conn = server.connection()
    try:
        h.push_image_blobs(conn, "perf/manifest-put", image)
    finally:
        conn.close()
    return image


def run_manifest_put(ctx: Context, server: Server, image: Image, round_no: int) -> list[Measure]:
    count = ctx.profile.manifest_puts
    documents = [image.manifest(f"put-r{round_no}-{i}") for i in range(count)]
    conn = server.connection()
    try:
        seconds = timed(
            lambda: [h.put_manifest(conn, "perf/manifest-put", f"r{round_no}-{i}", documents[i]) for i in range(count)]
        )
        for i in range(count):
            h.check_manifest(conn, "perf/manifest-put", f"r{round_no}-{i}", documents[i])
    finally:
        conn.close()
    return [Measure(f"manifest PUT by tag x{count}", "req/s", count / seconds)]


def setup_manifest_get(ctx: Context, server: Server) -> bytes:
    return seed_image(server, "perf/manifest-get", bench_image("manifest-get"), ["latest"])


def _rate_measures(label: str, rate: Any) -> list[Measure]:
    return [
        Measure(label, "req/s", rate.per_second),
        Measure(f"{label} p50", "ms", rate.p50_ms, False),
        Measure(f"{label} p99", "ms", rate.p99_ms, False),
    ]


def _manifest_action(method: str, path: str, data: bytes) -> Callable[[Connection, int], None]:
    digest, headers = h.sha256(data), {"Accept": h.MANIFEST_ACCEPT}

    def action(conn: Connection, i: int) -> None:
        reply = conn.request(method, path, headers=headers)
        expect(reply.status == 200, f"{conn.label}: {method} {path} answered {reply.status}")
        expect(
            reply.header("docker-content-digest") == digest and reply.header("content-length") == str(len(data)),
            f"{conn.label}: {method} {path} described another manifest: {reply.headers}",
        )
        if method == "GET":
            expect(reply.body == data, f"{conn.label}: GET {path} returned other bytes")

    return action


def run_manifest_get(ctx: Context, server: Server, data: bytes, round_no: int) -> list[Measure]:
    p, repo, measures = ctx.profile, "perf/manifest-get", []
    conn = server.connection()
    try:
        for concurrency in p.concurrency:
            for kind, reference in (("tag", "latest"), ("digest", h.sha256(data))):
                h.check_manifest(conn, repo, reference, data)
                path = f"/v2/{repo}/manifests/{reference}"
                label = f"manifest {{}} by {kind} c={concurrency}"
                rate = run_wrk(server.url + path, concurrency, p.wrk_seconds, ctx.client_cpus, ctx.wrk_script, server.name)
                measures += _rate_measures(label.format("GET (wrk)"), rate)
                total = max(p.loop_requests, 10 * concurrency)
                for method in ("GET", "HEAD"):
                    rate = run_threads(
                        server.host, server.port, server.name, concurrency, total, _manifest_action(method, path, data)
                    )
                    measures += _rate_measures(label.format(f"{method} (loop)"), rate)
                h.check_manifest(conn, repo, reference, data)
    finally:
        conn.close()
    return measures


# -- listings ---------------------------------------------------------------------------------


def setup_tags(ctx: Context, server: Server) -> list[str]:
    tags = [f"t{i:04d}" for i in range(ctx.profile.listing_count)]
    seed_image(server, "perf/tags", bench_image("tags"), tags)
    return tags


def _listing_concurrency(ctx: Context) -> int:
    return min(16, max(ctx.profile.concurrency))


def run_tags(ctx: Context, server: Server, tags: list[str], round_no: int) -> list[Measure]:
    path = "/v2/perf/tags/tags/list"
    conn = server.connection()
    try:
        document = h.get_json(conn, path)
    finally:
        conn.close()
    expect(
        isinstance(document, dict) and document.get("name") == "perf/tags" and sorted(document.get("tags") or []) == tags,
        f"{server.name}: {path} did not list the {len(tags)} tags: {str(document)[:300]}",
    )
    rate = run_wrk(
        server.url + path, _listing_concurrency(ctx), ctx.profile.wrk_seconds, ctx.client_cpus, ctx.wrk_script, server.name
    )
    return [Measure(f"tag list of {len(tags)} tags (wrk c={_listing_concurrency(ctx)})", "req/s", rate.per_second)]


def setup_catalog(ctx: Context, server: Server) -> list[str]:
    image, source = bench_image("catalog"), "perf/catalog-source"
    repos = [f"catalog/r{i:04d}" for i in range(ctx.profile.listing_count)]
    data = seed_image(server, source, image, ["latest"])

    def seed(conn: Connection, i: int) -> None:
        h.mount_blob(conn, repos[i], source, image.config)
        h.mount_blob(conn, repos[i], source, image.layer)
        h.put_manifest(conn, repos[i], "latest", data)

    run_threads(server.host, server.port, server.name, 8, len(repos), seed)
    return repos


def run_catalog(ctx: Context, server: Server, repos: list[str], round_no: int) -> list[Measure]:
    path = f"/v2/_catalog?n={len(repos)}"
    conn = server.connection()
    try:
        document = h.get_json(conn, path)
    finally:
        conn.close()
    expect(
        isinstance(document, dict) and document.get("repositories") == repos,
        f"{server.name}: {path} did not list the {len(repos)} catalog repositories first: {str(document)[:300]}",
    )
    rate = run_wrk(
        server.url + path, _listing_concurrency(ctx), ctx.profile.wrk_seconds, ctx.client_cpus, ctx.wrk_script, server.name
    )
    return [Measure(f"catalog of {len(repos)} repositories (wrk c={_listing_concurrency(ctx)})", "req/s", rate.per_second)]


@dataclass(frozen=True)
class Workload:
    """A named workload: per-server setup, then one timed round per call of `run`."""

    name: str
    setup: Callable[[Context, Server], Any]
    run: Callable[[Context, Server, Any, int], list[Measure]]


def _nothing(ctx: Context, server: Server) -> None:
    return None


WORKLOADS = [
    Workload("push-small", setup_single_post, run_push_small),
    Workload("push", setup_single_post, run_push),
    Workload("push-chunked", _nothing, run_push_chunked),
    Workload("pull", setup_pull, run_pull),
    Workload("pull-parallel", setup_pull_parallel, run_pull_parallel),
    Workload("manifest-put", setup_manifest_put, run_manifest_put),
    Workload("manifest-get", setup_manifest_get, run_manifest_get),
    Workload("tags", setup_tags, run_tags),
    Workload("catalog", setup_catalog, run_catalog),
]

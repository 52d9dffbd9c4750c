"""The pull-through cache workload (`mirror`): pulls through tinyreg's mirror of a Distribution upstream.

It runs its own pair of servers, placed so that the cold pull measures what tinyreg's relay
costs rather than two servers sharing a core: the upstream (Distribution) on the client CPUs,
next to this process, and tinyreg, serving `--mirror hub=<upstream>`, on the server CPUs.
Each round pulls four images of the same shape, every blob checked against its digest:

* cold: an image not cached yet, pulled through the mirror (fetched from upstream, verified,
  stored and streamed at once), paired with the same kind of image pulled from the upstream
  directly (the Distribution column);
* warm: an image already cached, pulled through the mirror, paired with an image pushed to
  tinyreg itself (in the Distribution column: the local pull is the baseline of a cached one).

The peak RSS of tinyreg over the cold pulls shows that a fetched blob is streamed, never held;
its CPU time over a cold pull is the relay's cost as such, which a busy machine does not blur
the way it blurs the durations (the upstream's over a direct pull: Distribution sends a file
with `sendfile`).
"""

from __future__ import annotations

import time
from typing import Protocol

from bench_http import Body, Connection, Image, MiB, expect, pull_blob, push_image_blobs, put_manifest
from bench_servers import Server, distribution_command, free_port, tinyreg_command
from bench_workloads import Context, Measure

NAME = "mirror"
MIRROR = "hub"
CONFIG_SIZE = 1024
MANIFEST_ACCEPT = "application/vnd.oci.image.manifest.v1+json"
KINDS = ("cold", "direct", "warm", "local")  # each round's images: cold and direct in the upstream, local in tinyreg


class Recorder(Protocol):
    """Where the measures go (`bench.Results`)."""

    def add(self, workload: str, server: str, round_no: int, rounds: int, measure: Measure) -> None: ...


def pull_image(conn: Connection, repo: str, image: Image, manifest: bytes) -> float:
    """GET the manifest by tag and both blobs (each checked); the milliseconds it took."""
    started = time.perf_counter()
    reply = conn.request("GET", f"/v2/{repo}/manifests/1", headers={"Accept": MANIFEST_ACCEPT})
    expect(reply.status == 200 and reply.body == manifest, f"{conn.label}: GET manifest {repo}:1 answered {reply.status}")
    pull_blob(conn, repo, image.config)
    pull_blob(conn, repo, image.layer)
    return (time.perf_counter() - started) * 1000


def seed(conn: Connection, repo: str, image: Image) -> bytes:
    """Push the image's blobs and its manifest as tag `1`; the manifest's bytes."""
    push_image_blobs(conn, repo, image)
    manifest = image.manifest(repo)
    put_manifest(conn, repo, "1", manifest)
    return manifest


def start_servers(ctx: Context, server_cpus: str, tinyreg_args: str) -> tuple[Server, Server]:
    """The upstream on the client CPUs, tinyreg mirroring it on the server CPUs; both started."""
    upstream_port = free_port()
    tinyreg_port = free_port()
    while tinyreg_port == upstream_port:
        tinyreg_port = free_port()
    upstream = Server(
        "distribution",
        distribution_command(ctx.workdir / "mirror-upstream", upstream_port),
        upstream_port,
        ctx.client_cpus,
        ctx.workdir / "mirror-upstream.log",
    )
    mirror = f"--mirror {MIRROR}=http://127.0.0.1:{upstream_port} --gc-interval off {tinyreg_args}"
    cache = Server(
        "tinyreg",
        tinyreg_command(ctx.workdir / "mirror-tinyreg", tinyreg_port, mirror),
        tinyreg_port,
        server_cpus,
        ctx.workdir / "mirror-tinyreg.log",
    )
    upstream.start()
    try:
        cache.start()
    except BaseException:
        upstream.stop()
        raise
    return upstream, cache


def run_mirror(ctx: Context, server_cpus: str, tinyreg_args: str, rounds: int, results: Recorder) -> None:
    """Every round of the workload, its measures added to `results`."""
    layer = ctx.profile.mirror_layer
    upstream, cache = start_servers(ctx, server_cpus, tinyreg_args)
    up, local = upstream.connection(), cache.connection()
    size = f"{layer // MiB} MiB layer"
    cold_metric = f"cold pull via mirror, {size} (vs the same pull from the upstream directly)"
    warm_metric = f"warm pull via mirror, {size} (vs a local image on tinyreg)"
    rss_metric = f"peak RSS of tinyreg over a cold pull, {size} (vs the upstream's)"
    cpu_metric = f"CPU time of tinyreg over a cold pull, {size} (vs the upstream's over the direct pull)"
    try:
        for number in range(rounds):
            images = {kind: Image(Body(f"{kind}-{number}-c", CONFIG_SIZE), Body(f"{kind}-{number}-l", layer)) for kind in KINDS}
            manifests = {
                kind: seed(up if kind != "local" else local, f"bench/{kind}{number}", image) for kind, image in images.items()
            }
            pull_image(local, f"{MIRROR}/bench/warm{number}", images["warm"], manifests["warm"])  # cached before it is timed
            for server in (upstream, cache):
                server.alive()
                server.reset_peak_rss()
            began = cache.cpu_ms()
            cold = pull_image(local, f"{MIRROR}/bench/cold{number}", images["cold"], manifests["cold"])
            relay_cpu, rss = cache.cpu_ms() - began, (cache.peak_rss_mib(), upstream.peak_rss_mib())
            began = upstream.cpu_ms()
            direct = pull_image(up, f"bench/direct{number}", images["direct"], manifests["direct"])
            upstream_cpu = upstream.cpu_ms() - began
            warm = pull_image(local, f"{MIRROR}/bench/warm{number}", images["warm"], manifests["warm"])
            own = pull_image(local, f"bench/local{number}", images["local"], manifests["local"])
            for metric, unit, value, baseline in (
                (cold_metric, "ms", cold, direct),
                (warm_metric, "ms", warm, own),
                (rss_metric, "MiB", rss[0], rss[1]),
                (cpu_metric, "ms", relay_cpu, upstream_cpu),
            ):
                results.add(NAME, "tinyreg", number, rounds, Measure(metric, unit, value, False))
                results.add(NAME, "distribution", number, rounds, Measure(metric, unit, baseline, False))
            cache.alive()
    finally:
        up.close()
        local.close()
        cache.stop()
        upstream.stop()

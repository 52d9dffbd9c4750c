#!/usr/bin/env python3
"""Benchmark the pull-through cache: pulls through tinyreg's mirror of a Distribution upstream.

Two pairs, each interleaved for a number of rounds, every blob checked against its digest:

* cold: an image not cached yet, pulled through the mirror (fetched from upstream, streamed
  while stored) against the same kind of image pulled from the upstream directly;
* warm: an image already cached, pulled through the mirror, against an image pushed to
  tinyreg itself (what the cache adds to a local pull: the tag's freshness row, its hit count).

Both servers run here on 127.0.0.1 (pinned with taskset like scripts/bench.py).

    python scripts/bench_mirror.py --quick
    python scripts/bench_mirror.py --rounds 5 --layer-mib 64 --json mirror-results.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_http import Body, Connection, Image, MiB, pull_blob, push_image_blobs, put_manifest  # noqa: E402
from bench_servers import Server, distribution_command, free_port, tinyreg_command  # noqa: E402


def pull_image(conn: Connection, repo: str, image: Image, data: bytes) -> float:
    """GET the manifest by tag and both blobs (checked); the seconds it took."""
    started = time.perf_counter()
    reply = conn.request("GET", f"/v2/{repo}/manifests/1", headers={"Accept": "application/vnd.oci.image.manifest.v1+json"})
    if reply.status != 200 or reply.body != data:
        raise SystemExit(f"{conn.label}: GET manifest {repo}:1 answered {reply.status}")
    pull_blob(conn, repo, image.config)
    pull_blob(conn, repo, image.layer)
    return time.perf_counter() - started


def seed(conn: Connection, repo: str, image: Image) -> bytes:
    push_image_blobs(conn, repo, image)
    data = image.manifest(repo)
    put_manifest(conn, repo, "1", data)
    return data


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--layer-mib", type=int, default=32, help="size of each image's layer")
    parser.add_argument("--quick", action="store_true", help="2 rounds of 4 MiB layers")
    parser.add_argument("--server-cpus", default="0", help="taskset CPU list of both servers")
    parser.add_argument("--json", type=Path, help="write the results here too")
    args = parser.parse_args(argv)
    rounds, layer = (2, 4 * MiB) if args.quick else (args.rounds, args.layer_mib * MiB)
    work = Path(tempfile.mkdtemp(prefix="bench-mirror-"))
    upstream_port, tinyreg_port = free_port(), free_port()
    upstream = Server(
        "distribution", distribution_command(work / "upstream", upstream_port), upstream_port, args.server_cpus, work / "up.log"
    )
    mirror = f"--mirror hub=http://127.0.0.1:{upstream_port} --gc-interval off"
    cache = Server(
        "tinyreg", tinyreg_command(work / "data", tinyreg_port, mirror), tinyreg_port, args.server_cpus, work / "tinyreg.log"
    )
    times: dict[str, list[float]] = {"cold via mirror": [], "direct upstream": [], "warm via mirror": [], "local image": []}
    try:
        upstream.start()
        cache.start()
        up, local = Connection("127.0.0.1", upstream_port, "distribution"), Connection("127.0.0.1", tinyreg_port, "tinyreg")
        for number in range(rounds):
            images = {kind: Image(Body(f"{kind}-{number}-c", 1024), Body(f"{kind}-{number}-l", layer)) for kind in times}
            cold = seed(up, f"bench/cold{number}", images["cold via mirror"])
            direct = seed(up, f"bench/direct{number}", images["direct upstream"])
            warm = seed(up, f"bench/warm{number}", images["warm via mirror"])
            own = seed(local, f"bench/local{number}", images["local image"])
            pull_image(local, f"hub/bench/warm{number}", images["warm via mirror"], warm)  # cached before it is timed
            times["cold via mirror"].append(pull_image(local, f"hub/bench/cold{number}", images["cold via mirror"], cold))
            times["direct upstream"].append(pull_image(up, f"bench/direct{number}", images["direct upstream"], direct))
            times["warm via mirror"].append(pull_image(local, f"hub/bench/warm{number}", images["warm via mirror"], warm))
            times["local image"].append(pull_image(local, f"bench/local{number}", images["local image"], own))
    finally:
        cache.stop()
        upstream.stop()
    size = (layer + 1024) / MiB
    results = {
        kind: {"median_s": statistics.median(values), "mib_per_s": size / statistics.median(values)}
        for kind, values in times.items()
    }
    print(f"image of {size:.1f} MiB, {rounds} rounds (median)")
    for kind, result in results.items():
        print(f"  {kind:16} {result['median_s'] * 1000:9.1f} ms  {result['mib_per_s']:8.1f} MiB/s")
    cold_ratio = results["direct upstream"]["median_s"] / results["cold via mirror"]["median_s"]
    warm_ratio = results["local image"]["median_s"] / results["warm via mirror"]["median_s"]
    print(f"  cold via mirror / direct upstream: {cold_ratio:.2f} (speed ratio; 1.0 = as fast as the upstream alone)")
    print(f"  warm via mirror / local image:     {warm_ratio:.2f} (speed ratio; 1.0 = as fast as a local pull)")
    if args.json:
        args.json.write_text(json.dumps({"layer_bytes": layer, "rounds": rounds, "results": results}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

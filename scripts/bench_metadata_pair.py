"""Manifest GETs of tinyreg on PostgreSQL beside tinyreg on LMDB, measured in pairs.

Both servers run at once, pinned to the same server CPU, each holding the same image; wrk runs
short bursts against one, then the other, in alternating order, and each pair gives a rate ratio
(PostgreSQL over LMDB). The median of those ratios is what the table shows: this machine's speed
drifts by tens of percent over minutes, which two benchmark runs a few minutes apart take for a
difference between the backends, while a pair's two bursts see the same machine. The CPU time
each server spent per request (from /proc) is shown beside them.

    python scripts/bench_metadata_pair.py --metadata postgresql://user:pw@127.0.0.1:5432/empty_db
    python scripts/bench_metadata_pair.py --metadata ... --connections 1 --pairs 12

The database must be empty (or hold only a tinyreg schema); PostgreSQL itself runs wherever it
runs, as it would for a real node. See `scripts/trial_backends.py` to start one here.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

from bench_http import Body, Image, push_image_blobs, put_manifest
from bench_load import WRK_SCRIPT, run_wrk
from bench_servers import Server, free_port, tinyreg_command

REPO = "bench/app"


def start(name: str, workdir: Path, extra: str, cpus: str) -> Server:
    port = free_port()
    server = Server(name, tinyreg_command(workdir / name, port, extra), port, cpus, workdir / f"{name}.log")
    server.start()
    return server


def seed(server: Server) -> str:
    """Push one image, tagged `v1`; its manifest's digest."""
    image = Image(Body("pair-config", 1024), Body("pair-layer", 4096))
    conn = server.connection()
    try:
        push_image_blobs(conn, REPO, image)
        return put_manifest(conn, REPO, "v1", image.manifest("pair"))
    finally:
        conn.close()


def burst(server: Server, reference: str, connections: int, args: argparse.Namespace, script: Path) -> tuple[float, float]:
    """One wrk burst: requests per second, and the server's CPU microseconds per request."""
    began = server.cpu_ms()
    url = f"{server.url}/v2/{REPO}/manifests/{reference}"
    rate = run_wrk(url, connections, args.seconds, args.client_cpus, script, server.name)
    server.alive()
    return rate.per_second, (server.cpu_ms() - began) * 1000 / max(rate.requests, 1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--metadata", required=True, help="an empty PostgreSQL database, postgresql://...")
    parser.add_argument("--pairs", type=int, default=8, help="bursts per server for each row (default 8)")
    parser.add_argument("--seconds", type=float, default=2.0, help="length of a burst (default 2)")
    parser.add_argument("--connections", default="1,16,64", help="wrk connections, comma-separated (default 1,16,64)")
    parser.add_argument("--server-cpus", default="0", help="CPU list for both servers (default 0)")
    parser.add_argument("--client-cpus", default="1", help="CPU list for wrk (default 1)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tinyreg-pair-") as temp:
        workdir = Path(temp)
        script = workdir / "manifest.lua"
        script.write_text(WRK_SCRIPT)
        lmdb = start("lmdb", workdir, "", args.server_cpus)
        try:
            postgresql = start("postgresql", workdir, f"--metadata {args.metadata}", args.server_cpus)
        except BaseException:
            lmdb.stop()
            raise
        servers = (lmdb, postgresql)
        try:
            digests = {seed(server) for server in servers}
            assert len(digests) == 1, digests
            digest = digests.pop()
            print(
                f"{'clients':>7} {'by':6} {'LMDB req/s':>10} {'PG req/s':>9} {'PG/LMDB':>8} {'range':>11} {'CPU µs/req LMDB, PG':>20}"
            )
            for connections in (int(value) for value in args.connections.split(",")):
                for by, reference in (("tag", "v1"), ("digest", digest)):
                    measured: dict[str, list[tuple[float, float]]] = {server.name: [] for server in servers}
                    for number in range(args.pairs):
                        for server in servers if number % 2 == 0 else servers[::-1]:
                            measured[server.name].append(burst(server, reference, connections, args, script))
                    ratios = [pg[0] / lm[0] for pg, lm in zip(measured["postgresql"], measured["lmdb"], strict=True)]
                    rate = {name: statistics.median(r for r, _ in values) for name, values in measured.items()}
                    cpu = {name: statistics.median(c for _, c in values) for name, values in measured.items()}
                    print(
                        f"{connections:>7} {by:6} {rate['lmdb']:>10.0f} {rate['postgresql']:>9.0f} "
                        f"{statistics.median(ratios):>8.2f} {min(ratios):>5.2f}-{max(ratios):<5.2f} "
                        f"{cpu['lmdb']:>10.0f}, {cpu['postgresql']:.0f}",
                        flush=True,
                    )
        finally:
            for server in servers:
                server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())

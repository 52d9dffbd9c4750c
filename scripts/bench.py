#!/usr/bin/env python3
"""Benchmark tinyreg side by side with CNCF Distribution (`docker-registry`) on this machine.

Both servers are started here on 127.0.0.1, pinned to the server CPUs; this process and wrk run on
the client CPUs. Each workload runs on both, interleaved (tinyreg, Distribution) for a number of
rounds; every answer is checked, and a wrong one stops the run. The table shows medians and the
median of the per-round paired ratios, oriented so that a ratio above 1.0 means tinyreg is better.

    python scripts/bench.py --quick
    python scripts/bench.py --rounds 5 --only push,pull --json bench-results.json
    python scripts/bench.py --only manifest-put,manifest-get --metadata postgresql://user:pw@127.0.0.1:5432/bench
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_http import MiB, WrongAnswer  # noqa: E402
from bench_load import WRK_SCRIPT, disk_write_rate, loopback_rate, sha256_rate  # noqa: E402
from bench_move import WORKLOAD as MOVE  # noqa: E402
from bench_panel import WORKLOAD as PANEL  # noqa: E402
from bench_pull_through import NAME as MIRROR  # noqa: E402
from bench_pull_through import run_mirror  # noqa: E402
from bench_servers import (  # noqa: E402
    Server,
    cold_start_ms,
    describe_machine,
    distribution_command,
    embedded_start_ms,
    exec_start_ms,
    free_port,
    tinyreg_command,
)
from bench_sink import Sink  # noqa: E402
from bench_workloads import FULL, QUICK, Context, Measure  # noqa: E402
from bench_workloads import WORKLOADS as PROTOCOL_WORKLOADS  # noqa: E402

WORKLOADS = [*PROTOCOL_WORKLOADS, PANEL, MOVE]
#: Left out of --quick unless asked for by --only: seeding 10,000 tags takes a minute or two.
SLOW_TO_SEED = {PANEL.name, MOVE.name}

SERVERS = ("tinyreg", "distribution")
EXTRA = ("reference", "startup", MIRROR)  # each runs its own way (the mirror workload: its own servers)
RATIO_MEANING = (
    "ratio > 1.0 means tinyreg is better: tinyreg/Distribution for rates, Distribution/tinyreg for times, latencies and memory"
)


def parse_cpus(text: str) -> set[int]:
    """A taskset-style CPU list (`0`, `0,1`, `0-3`) as a set."""
    cpus: set[int] = set()
    for part in text.split(","):
        first, _, last = part.partition("-")
        cpus.update(range(int(first), int(last or first) + 1))
    return cpus


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    names = [w.name for w in WORKLOADS] + list(EXTRA)
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, help="rounds per workload (default 5; 1 with --quick)")
    parser.add_argument("--quick", action="store_true", help="small sizes, one round: about a minute")
    parser.add_argument(
        "--only", action="append", metavar="WORKLOAD", help=f"run only these (comma-separated, repeatable): {', '.join(names)}"
    )
    parser.add_argument("--json", type=Path, default=Path("bench-results.json"), help="where to write the results")
    parser.add_argument("--server-cpus", default="0", help="CPU list for the servers (taskset -c), default 0")
    parser.add_argument("--client-cpus", default="1", help="CPU list for this process and wrk, default 1")
    parser.add_argument("--tinyreg-args", default="", help="extra arguments for `tinyreg serve`, e.g. '--workers 2'")
    parser.add_argument(
        "--notify-sink",
        action="store_true",
        help="give tinyreg one notification endpoint: a receiver in this process that answers every POST",
    )
    parser.add_argument("--workdir", type=Path, help="where the temporary data goes (default: system temp dir)")
    parser.add_argument(
        "--metadata", help="tinyreg's metadata in this (empty) PostgreSQL database, postgresql://...; default LMDB"
    )
    parser.add_argument(
        "--s3-bucket",
        help="blobs of both servers in this S3 bucket (endpoint and keys from AWS_ENDPOINT_URL_S3, AWS_ACCESS_KEY_ID, "
        "AWS_SECRET_ACCESS_KEY): tinyreg with --blobs, Distribution with its s3 driver; default: files",
    )
    args = parser.parse_args(argv)
    if args.metadata:
        args.tinyreg_args = f"{args.tinyreg_args} --metadata {shlex.quote(args.metadata)}".strip()
    if args.s3_bucket:
        missing = [v for v in ("AWS_ENDPOINT_URL_S3", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY") if not os.environ.get(v)]
        if missing:
            parser.error(f"--s3-bucket needs {', '.join(missing)} in the environment")
        prefix = f"s3://{args.s3_bucket}/tinyreg-{os.getpid()}"
        # Both stream blobs through the registry (no redirect to the store): the workloads measure the servers.
        args.tinyreg_args = f"{args.tinyreg_args} --blobs {prefix} --blobs-redirect off".strip()
    chosen = [n.strip() for item in (args.only or []) for n in item.split(",") if n.strip()]
    if not chosen:
        chosen = [n for n in names if not (args.quick and n in SLOW_TO_SEED)]
    unknown = sorted(set(chosen) - set(names))
    if unknown:
        parser.error(f"unknown workload(s) {', '.join(unknown)}; choose from {', '.join(names)}")
    args.selected = [n for n in names if n in chosen]
    args.rounds = args.rounds or (1 if args.quick else 5)
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    allowed = os.sched_getaffinity(0)
    for option in ("server_cpus", "client_cpus"):
        if not parse_cpus(getattr(args, option)) <= allowed:
            parser.error(f"--{option.replace('_', '-')} {getattr(args, option)} is not within the CPUs {sorted(allowed)}")
    return args


def progress(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


class Results:
    """Per-round measures of both servers, keyed by workload and metric, in first-seen order."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, str], dict[str, Any]] = {}

    def add(self, workload: str, server: str, round_no: int, rounds: int, measure: Measure) -> None:
        row = self.rows.setdefault(
            (workload, measure.metric),
            {
                "workload": workload,
                "metric": measure.metric,
                "unit": measure.unit,
                "higher_is_better": measure.higher_is_better,
                "paired": True,
                "tinyreg": [None] * rounds,
                "distribution": [None] * rounds,
            },
        )
        row[server][round_no] = measure.value

    def add_unpaired(self, workload: str, metric: str, unit: str, tinyreg: list[float], distribution: list[float]) -> None:
        self.rows[(workload, metric)] = {
            "workload": workload,
            "metric": metric,
            "unit": unit,
            "higher_is_better": False,
            "paired": False,
            "tinyreg": tinyreg,
            "distribution": distribution,
        }

    @staticmethod
    def _ratio(row: dict[str, Any], t: float | None, d: float | None) -> float | None:
        if not t or not d:
            return None
        return t / d if row["higher_is_better"] else d / t

    def summary(self) -> list[dict[str, Any]]:
        """Each row with both medians and the ratio (median of paired per-round ratios)."""
        summarized = []
        for row in self.rows.values():
            out = dict(row)
            for server in SERVERS:
                values = [v for v in row[server] if v is not None]
                out[f"{server}_median"] = statistics.median(values) if values else None
            if row["paired"]:
                ratios = [self._ratio(row, t, d) for t, d in zip(row["tinyreg"], row["distribution"], strict=True)]
                out["ratios"] = ratios
                present = [r for r in ratios if r is not None]
                out["ratio"] = statistics.median(present) if present else None
            else:
                out["ratio"] = self._ratio(row, out["tinyreg_median"], out["distribution_median"])
            summarized.append(out)
        return summarized


def run_reference(context: Context, server_cpus: str) -> dict[str, float]:
    size = context.profile.reference_mib * MiB
    progress("reference: disk, sha256, loopback TCP")
    return {
        "disk_write_fdatasync_MiB_s": disk_write_rate(context.workdir, size),
        "sha256_MiB_s": sha256_rate(size),
        "loopback_tcp_MiB_s": loopback_rate(size * 4, server_cpus),
    }


def run_startup(context: Context, args: argparse.Namespace, results: Results) -> dict[str, list[float]]:
    p = context.profile
    progress(f"startup: embedded x{p.startup_runs}, cold x{p.cold_runs}, exec x{p.cold_runs}, docker-registry x{p.startup_runs}")
    timings = {
        "embedded_ms": embedded_start_ms(p.startup_runs),
        "cold_python_ms": cold_start_ms(p.cold_runs, args.server_cpus),
        "tinyreg_serve_exec_ms": exec_start_ms(p.cold_runs, args.server_cpus, context.workdir, "tinyreg", args.tinyreg_args),
        "distribution_exec_ms": exec_start_ms(p.startup_runs, args.server_cpus, context.workdir, "distribution"),
    }
    binary = timings["distribution_exec_ms"]
    for key, metric in (
        ("embedded_ms", "embedded run_registry() to first /v2/ (vs docker-registry exec)"),
        ("cold_python_ms", "cold python -c: import, start, first /v2/ (vs docker-registry exec)"),
        ("tinyreg_serve_exec_ms", "tinyreg serve exec to first /v2/ (vs docker-registry exec)"),
    ):
        results.add_unpaired("startup", metric, "ms", timings[key], binary)
    return timings


def run_workloads(context: Context, args: argparse.Namespace, results: Results) -> None:
    selected = [w for w in WORKLOADS if w.name in args.selected]
    if not selected:
        return
    tiny_port = free_port()
    dist_port = free_port()
    while dist_port == tiny_port:
        dist_port = free_port()
    servers = [
        Server(
            "tinyreg",
            tinyreg_command(context.workdir / "tinyreg", tiny_port, args.tinyreg_args),
            tiny_port,
            args.server_cpus,
            context.workdir / "tinyreg.log",
        ),
        Server(
            "distribution",
            distribution_command(context.workdir / "distribution", dist_port, args.s3_bucket or ""),
            dist_port,
            args.server_cpus,
            context.workdir / "distribution.log",
        ),
    ]
    try:
        for server in servers:
            server.start()
            progress(f"{server.name} serving on {server.url} (pid {server.pid})")
        for workload in selected:
            states = {}
            for server in servers:
                progress(f"{workload.name}: seeding {server.name}")
                states[server.name] = workload.setup(context, server)
            for round_no in range(args.rounds):
                for server in servers:
                    server.alive()
                    os.sync()
                    progress(f"{workload.name}: round {round_no + 1}/{args.rounds} on {server.name}")
                    for measure in workload.run(context, server, states[server.name], round_no):
                        results.add(workload.name, server.name, round_no, args.rounds, measure)
                    server.alive()
    finally:
        for server in servers:
            server.stop()


def client_peak_rss_mib() -> float:
    """VmHWM of this process (shows that blob bodies are streamed, never held whole)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def fmt(value: float | None) -> str:
    if value is None:
        return "n/a"
    if value >= 100:
        return f"{value:,.0f}"
    return f"{value:.1f}" if value >= 10 else f"{value:.3g}"


def print_report(reference: dict[str, float] | None, rows: list[dict[str, Any]], rounds: int) -> None:
    if reference:
        print("Machine reference: " + ", ".join(f"{k.replace('_MiB_s', '')} {v:,.0f} MiB/s" for k, v in reference.items()))
    if not rows:
        return
    headers = ("workload", "unit", "tinyreg", "Distribution", "ratio")
    table = [
        (
            f"{r['workload']}: {r['metric']}",
            r["unit"],
            fmt(r["tinyreg_median"]),
            fmt(r["distribution_median"]),
            "n/a" if r["ratio"] is None else f"{r['ratio']:.2f}",
        )
        for r in rows
    ]
    widths = [max(len(str(line[i])) for line in [headers, *table]) for i in range(len(headers))]
    print(
        f"\nMedians over {rounds} round(s); {RATIO_MEANING}; ratio = median of per-round paired ratios "
        "(start-up rows: ratio of medians)."
    )
    print("  ".join(h.ljust(w) if i < 2 else h.rjust(w) for i, (h, w) in enumerate(zip(headers, widths, strict=True))))
    print("  ".join("-" * w for w in widths))
    for line in table:
        print("  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(line, widths, strict=True))))


def ensure_bucket(bucket: str) -> None:
    """Create the bucket both servers use (Distribution does not), unless it exists."""
    import boto3
    from botocore.config import Config

    client = boto3.client("s3", config=Config(s3={"addressing_style": "path"}))
    try:
        client.head_bucket(Bucket=bucket)
    except client.exceptions.ClientError:
        client.create_bucket(Bucket=bucket)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    os.sched_setaffinity(0, parse_cpus(args.client_cpus))
    profile = QUICK if args.quick else FULL
    if args.s3_bucket:
        ensure_bucket(args.s3_bucket)
        # Distribution 2.8's AWS SDK cannot load a custom CA bundle with its own HTTP transport (it
        # panics at start); the bundle is of no use to a plain-HTTP endpoint on this machine anyway.
        if os.environ.get("AWS_ENDPOINT_URL_S3", "").startswith("http://"):
            os.environ.pop("AWS_CA_BUNDLE", None)
    workdir = Path(tempfile.mkdtemp(prefix="tinyreg-bench-", dir=args.workdir))
    wrk_script = workdir / "accept.lua"
    wrk_script.write_text(WRK_SCRIPT)
    context = Context(profile, args.client_cpus, workdir, wrk_script)
    results, reference, startup = Results(), None, None
    began = time.perf_counter()
    sink = Sink().start() if args.notify_sink else None
    if sink is not None:
        args.tinyreg_args += f" --config {sink.write_config(workdir / 'notify.toml')}"
    try:
        if "reference" in args.selected:
            reference = run_reference(context, args.server_cpus)
        if "startup" in args.selected:
            startup = run_startup(context, args, results)
        run_workloads(context, args, results)
        if MIRROR in args.selected:
            progress(f"{MIRROR}: upstream on CPUs {args.client_cpus}, tinyreg on {args.server_cpus}, {args.rounds} round(s)")
            run_mirror(context, args.server_cpus, args.tinyreg_args, args.rounds, results)
    except WrongAnswer as exc:
        print(f"\nWRONG ANSWER, benchmark stopped: {exc}", file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        if sink is not None:
            sink.stop()
            progress(f"the notification sink received {sink.events} events in {sink.posts} requests")
    rows = results.summary()
    print_report(reference, rows, args.rounds)
    document = {
        "ratio_meaning": RATIO_MEANING,
        "settings": {
            "rounds": args.rounds,
            "quick": args.quick,
            "selected": args.selected,
            "server_cpus": args.server_cpus,
            "client_cpus": args.client_cpus,
            "tinyreg_args": args.tinyreg_args,
            "notify_sink": args.notify_sink,
            "metadata": "postgresql" if args.metadata else "lmdb",
            "blobs": "s3" if args.s3_bucket else "files",
            "notify_sink_events": sink.events if sink is not None else None,
            "profile": asdict(profile),
        },
        "machine": describe_machine(),
        "seconds": time.perf_counter() - began,
        "client_peak_rss_MiB": client_peak_rss_mib(),
        "reference": reference,
        "startup": startup,
        "results": rows,
    }
    args.json.write_text(json.dumps(document, indent=2) + "\n")
    progress(f"done in {document['seconds']:.0f} s; results in {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

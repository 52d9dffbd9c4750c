"""Load generators and machine reference lines for the benchmark.

`run_wrk` drives `wrk` (GET only) and parses its report; `run_threads` is a bounded threaded loop
of keep-alive connections that times any request, HEAD included, and checks every answer.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench_http import MANIFEST_ACCEPT, Connection, MiB, WrongAnswer

WRK_SCRIPT = f"""wrk.method = "GET"
wrk.headers["Accept"] = "{MANIFEST_ACCEPT}"
"""


@dataclass(frozen=True)
class Rate:
    """Requests per second and latency percentiles (milliseconds) of one load run."""

    requests: int
    per_second: float
    p50_ms: float
    p99_ms: float


#: How long a wrk run may be stretched to when the usual window saw no answer at all (Distribution's
#: catalog on S3 walks the whole bucket: seconds per request).
LONGEST_WRK_SECONDS = 60.0


class NothingCompleted(WrongAnswer):
    """wrk's window ended before any request was answered (a slow server, not a wrong answer yet)."""


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile of `values` (not necessarily sorted)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def run_threads(
    host: str, port: int, label: str, concurrency: int, total: int, action: Callable[[Connection, int], None]
) -> Rate:
    """Run `action(connection, i)` for i in range(total) on `concurrency` threads, each with its own
    keep-alive connection; time each call. Any exception (a wrong answer) is raised here."""
    barrier = threading.Barrier(concurrency + 1)
    latencies: list[list[float]] = [[] for _ in range(concurrency)]
    failures: list[BaseException] = []

    def worker(slot: int) -> None:
        conn = Connection(host, port, label)
        times = latencies[slot]
        try:
            barrier.wait()
            for i in range(slot, total, concurrency):
                began = time.perf_counter()
                action(conn, i)
                times.append(time.perf_counter() - began)
        except BaseException as exc:  # reported to the caller
            failures.append(exc)
        finally:
            conn.close()

    threads = [threading.Thread(target=worker, args=(slot,), daemon=True) for slot in range(concurrency)]
    for thread in threads:
        thread.start()
    barrier.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    if failures:
        raise failures[0]
    flat = [t for times in latencies for t in times]
    return Rate(len(flat), len(flat) / elapsed, percentile(flat, 0.50) * 1000, percentile(flat, 0.99) * 1000)


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3}
_DURATION = re.compile(r"([\d.]+)(us|ms|s|m|h)\b")


def _duration_ms(text: str) -> float:
    match = _DURATION.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"cannot read wrk duration {text!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def parse_wrk(output: str, label: str) -> Rate:
    """Requests/sec, 50% and 99% latency from `wrk --latency` output; non-2xx answers or socket
    errors are wrong answers."""
    bad = re.search(r"Non-2xx or 3xx responses:\s*(\d+)", output)
    if bad:
        raise WrongAnswer(f"{label}: wrk saw {bad.group(1)} non-2xx/3xx responses")
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    if errors and any(int(n) for n in errors.groups()):
        raise WrongAnswer(f"{label}: wrk socket errors: {errors.group(0)}")
    rate = re.search(r"Requests/sec:\s*([\d.]+)", output)
    count = re.search(r"(\d+) requests in", output)
    p50 = re.search(r"^\s*50%\s+(\S+)", output, re.M)
    p99 = re.search(r"^\s*99%\s+(\S+)", output, re.M)
    if not (rate and count and p50 and p99):
        raise RuntimeError(f"{label}: cannot parse wrk output:\n{output}")
    if int(count.group(1)) == 0:
        raise NothingCompleted(f"{label}: wrk completed no request")
    return Rate(int(count.group(1)), float(rate.group(1)), _duration_ms(p50.group(1)), _duration_ms(p99.group(1)))


def run_wrk(
    url: str, concurrency: int, seconds: float, cpus: str, script: Path, label: str, longest: float = LONGEST_WRK_SECONDS
) -> Rate:
    """GET `url` with wrk (one thread, `concurrency` connections, pinned to `cpus`) for `seconds`."""
    command = [
        "taskset",
        "-c",
        cpus,
        "wrk",
        "-t1",
        f"-c{concurrency}",
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        f"{max(10, round(seconds))}s",
        "--latency",
        "-s",
        str(script),
        url,
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60)
    if done.returncode != 0:
        raise RuntimeError(f"{label}: wrk failed ({done.returncode}): {done.stderr.strip()}")
    try:
        return parse_wrk(done.stdout, label)
    except NothingCompleted:
        if seconds >= longest:
            raise
        # Every request outlasted the window: once more with room for some to finish (a rate, however low).
        print(f"{label}: no answer within {seconds:.0f} s, measuring again over {longest:.0f} s", file=sys.stderr)
        return run_wrk(url, concurrency, longest, cpus, script, label, longest)


# -- reference lines ----------------------------------------------------------------------------


def disk_write_rate(directory: Path, size: int) -> float:
    """MiB/s writing `size` bytes in 1 MiB writes into `directory`, fdatasync included."""
    block = os.urandom(MiB)
    path = directory / "disk-reference"
    began = time.perf_counter()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        for _ in range(size // MiB):
            os.write(fd, block)
        os.fdatasync(fd)
    finally:
        os.close(fd)
    elapsed = time.perf_counter() - began
    path.unlink()
    return size / MiB / elapsed


def sha256_rate(size: int) -> float:
    """MiB/s of hashlib sha256 over 1 MiB buffers."""
    block = os.urandom(MiB)
    hasher = hashlib.sha256()
    began = time.perf_counter()
    for _ in range(size // MiB):
        hasher.update(block)
    hasher.hexdigest()
    return size / MiB / (time.perf_counter() - began)


_SENDER = (
    "import socket,sys\n"
    "s=socket.create_connection(('127.0.0.1',int(sys.argv[1])))\n"
    "b=bytes(1<<20)\n"
    "for _ in range(int(sys.argv[2])): s.sendall(b)\n"
    "s.close()\n"
)


def loopback_rate(size: int, sender_cpus: str) -> float:
    """MiB/s of one TCP stream over 127.0.0.1: a sender process pinned to `sender_cpus`, received here."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        sender = subprocess.Popen(["taskset", "-c", sender_cpus, sys.executable, "-c", _SENDER, str(port), str(size // MiB)])
        try:
            listener.settimeout(30)
            conn, _ = listener.accept()
            with conn:
                buffer = bytearray(MiB)
                received, began = 0, time.perf_counter()
                while count := conn.recv_into(buffer):
                    received += count
                elapsed = time.perf_counter() - began
        finally:
            sender.wait(timeout=60)
    if received != size:
        raise RuntimeError(f"loopback reference received {received} of {size} bytes")
    return size / MiB / elapsed

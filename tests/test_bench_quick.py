"""`scripts/bench.py --quick` runs tinyreg and Distribution side by side and reports both.

These tests check what the benchmark reports and how it reads its tools, never how fast anything is.
"""

from __future__ import annotations

import http.server
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = ROOT / "scripts"
WORKLOADS = ("manifest-put", "tags")
TOOLS = ("docker-registry", "wrk", "taskset")

sys.path.insert(0, str(SCRIPTS))
from bench_http import Body, WrongAnswer, sha256  # noqa: E402
from bench_load import parse_wrk, run_wrk  # noqa: E402


def _require_tools() -> None:
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if missing:
        if os.environ.get("CI") == "true":
            pytest.fail(f"the benchmark needs {', '.join(missing)}")
        pytest.skip(f"the benchmark needs {', '.join(missing)}")


WRK_REPORT = """Running 1s test @ http://127.0.0.1:5000/v2/perf/tags/tags/list
  1 threads and 16 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.20ms  300.00us   9.50ms   90.00%
  Latency Distribution
     50%  850.00us
     75%    1.10ms
     90%    1.50ms
     99%    2.25ms
  1200 requests in 1.00s, 1.00MB read
{extra}Requests/sec:   1195.50
Transfer/sec:      1.00MB
"""


def _cpu_lists() -> tuple[str, str]:
    """Server and client CPUs: two different ones when this process may use two."""
    allowed = sorted(os.sched_getaffinity(0))
    return str(allowed[0]), str(allowed[-1])


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], str]:
    """The JSON document and printed table of one `--quick --rounds 1` run of two cheap workloads."""
    _require_tools()
    out = tmp_path_factory.mktemp("bench") / "results.json"
    server_cpus, client_cpus = _cpu_lists()
    done = subprocess.run(
        [
            sys.executable,
            str(SCRIPTS / "bench.py"),
            "--quick",
            "--rounds",
            "1",
            "--only",
            ",".join(WORKLOADS),
            "--json",
            str(out),
            "--server-cpus",
            server_cpus,
            "--client-cpus",
            client_cpus,
            "--notify-sink",  # one notification endpoint, as the figures are compared with and without
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
    )
    assert done.returncode == 0, f"bench.py failed:\n{done.stdout}\n{done.stderr[-4000:]}"
    return json.loads(out.read_text()), done.stdout


def test_only_the_selected_workloads_run(quick_run: tuple[dict[str, Any], str]) -> None:
    document, _ = quick_run
    assert document["settings"]["selected"] == list(WORKLOADS)
    assert document["settings"]["rounds"] == 1
    assert {row["workload"] for row in document["results"]} == set(WORKLOADS)
    assert document["reference"] is None and document["startup"] is None


def test_the_notification_sink_hears_of_the_pushes(quick_run: tuple[dict[str, Any], str]) -> None:
    document, _ = quick_run
    assert document["settings"]["notify_sink"] is True
    assert document["settings"]["notify_sink_events"] > 0  # the manifest pushes, at least


def test_every_row_has_both_servers_numbers_and_a_ratio(quick_run: tuple[dict[str, Any], str]) -> None:
    document, _ = quick_run
    for row in document["results"]:
        for server in ("tinyreg", "distribution"):
            assert len(row[server]) == 1 and row[server][0] > 0, row
            assert row[f"{server}_median"] == row[server][0], row
        assert row["ratio"] is not None and row["ratio"] > 0, row


def test_ratio_is_oriented_so_above_one_means_tinyreg_is_better(quick_run: tuple[dict[str, Any], str]) -> None:
    document, _ = quick_run
    for row in document["results"]:
        tinyreg, distribution = row["tinyreg_median"], row["distribution_median"]
        expected = tinyreg / distribution if row["higher_is_better"] else distribution / tinyreg
        assert row["ratio"] == pytest.approx(expected), row


def test_table_names_each_workload_with_its_unit(quick_run: tuple[dict[str, Any], str]) -> None:
    document, table = quick_run
    assert "ratio > 1.0 means tinyreg is better" in table
    for row in document["results"]:
        line = next(line for line in table.splitlines() if line.startswith(f"{row['workload']}: {row['metric']}"))
        assert row["unit"] in line.split()


def test_wrk_report_is_read_in_milliseconds() -> None:
    rate = parse_wrk(WRK_REPORT.format(extra=""), "tinyreg")
    assert (rate.requests, rate.per_second, rate.p50_ms, rate.p99_ms) == (1200, 1195.5, pytest.approx(0.85), 2.25)


@pytest.mark.parametrize(
    "extra",
    [
        "  Non-2xx or 3xx responses: 3\n",
        "  Socket errors: connect 0, read 2, write 0, timeout 0\n",
    ],
)
def test_wrk_report_with_failed_requests_is_a_wrong_answer(extra: str) -> None:
    with pytest.raises(WrongAnswer):
        parse_wrk(WRK_REPORT.format(extra=extra), "tinyreg")


@pytest.mark.parametrize("size", [1, 1024, 1024 * 1024 + 7, 3 * 1024 * 1024])
def test_generated_body_streams_the_bytes_its_digest_names(size: int) -> None:
    body = Body(f"seed-{size}", size)
    whole = b"".join(bytes(piece) for piece in body.chunks())
    assert len(whole) == size and sha256(whole) == body.digest
    middle = b"".join(bytes(piece) for piece in body.chunks(size // 3, size // 2 + 1))
    assert middle == whole[size // 3 : size // 2 + 1]
    assert Body(f"other-{size}", size).digest != body.digest


class _SlowAnswers(http.server.BaseHTTPRequestHandler):
    """Answers every GET, each later than the first wrk window lasts (as Distribution's catalog on S3)."""

    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:  # noqa: N802 - the handler's protocol
        time.sleep(1.5)
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args: object) -> None:
        pass


def test_a_server_slower_than_the_wrk_window_is_measured_over_a_longer_one(tmp_path: Path) -> None:
    _require_tools()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _SlowAnswers)
    server.handle_error = lambda *_: None  # type: ignore[method-assign]  # wrk leaves with requests unanswered
    threading.Thread(target=server.serve_forever, daemon=True).start()
    script = tmp_path / "get.lua"
    script.write_text('wrk.method = "GET"\n')
    cpus = ",".join(str(cpu) for cpu in sorted(os.sched_getaffinity(0)))
    try:
        rate = run_wrk(f"http://127.0.0.1:{server.server_address[1]}/v2/_catalog", 2, 1, cpus, script, "slow", longest=4)
    finally:
        server.shutdown()
        server.server_close()
    assert rate.requests > 0 and rate.per_second > 0


def test_the_metadata_pairing_reports_each_row_with_a_ratio(postgres_cluster: Any) -> None:
    _require_tools()
    url = postgres_cluster.fresh_database(migrated=False)
    try:
        command = [sys.executable, str(SCRIPTS / "bench_metadata_pair.py"), "--metadata", url]
        command += ["--pairs", "1", "--seconds", "1", "--connections", "1,4"]
        done = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=ROOT)
        assert done.returncode == 0, done.stderr
        rows = [line.split() for line in done.stdout.splitlines()[1:]]
        assert [(row[0], row[1]) for row in rows] == [("1", "tag"), ("1", "digest"), ("4", "tag"), ("4", "digest")]
        for row in rows:
            lmdb, postgresql, ratio = float(row[2]), float(row[3]), float(row[4])
            assert lmdb > 0 and postgresql > 0 and abs(ratio - postgresql / lmdb) < 0.01
    finally:
        postgres_cluster.drop_database(url)

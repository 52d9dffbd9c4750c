"""The move workload: a project whose repository holds 10,000 tags, renamed back and forth.

tinyreg's side runs `tinyreg project move` beside the serving registry each round and reports the
move's unit of work (re-keying every tag, its index entry, the manifests, links and usage rows)
and the whole command (with Python's start-up), then checks that the new name serves the first and the last tag.
Distribution cannot move a repository (nor can GitLab's registry while a project has images):
its side is empty.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench_http import expect
from bench_servers import Server
from bench_workloads import Context, Measure, Workload, bench_image, seed_image

MOVE_TAGS = 10_000
PATHS = ("perfmove/app", "perfmove/renamed")


def _data_dir(server: Server) -> Path:
    return Path(server.command[server.command.index("--data") + 1])


def _backends(server: Server) -> list[str]:
    """The server's --metadata (a PostgreSQL run): the command must change the same database."""
    if "--metadata" not in server.command:
        return []
    return ["--metadata", server.command[server.command.index("--metadata") + 1]]


def _tinyreg(server: Server, *args: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "tinyreg", *args, "--data", str(_data_dir(server)), *_backends(server), "--json"],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    expect(done.returncode == 0, f"tinyreg {' '.join(args)} failed: {done.stderr[-500:]}")
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def setup_move(ctx: Context, server: Server) -> dict[str, Any]:
    tags = [f"t{i:05d}" for i in range(MOVE_TAGS)]
    seed_image(server, PATHS[0], bench_image("move"), tags, concurrency=8)
    if server.name == "tinyreg":
        _tinyreg(server, "project", "create", PATHS[0])
    return {"at": 0}


def run_move(ctx: Context, server: Server, state: dict[str, Any], round_no: int) -> list[Measure]:
    unit = f"project move, {MOVE_TAGS:,} tags"
    if server.name != "tinyreg":
        return [Measure(f"{unit}: unit of work", "ms", None, False), Measure(f"{unit}: whole command", "ms", None, False)]
    old, new = PATHS[state["at"]], PATHS[1 - state["at"]]
    began = time.perf_counter()
    report = _tinyreg(server, "project", "move", old, new, "--move-alias", "0")
    whole = (time.perf_counter() - began) * 1000
    state["at"] = 1 - state["at"]
    expect(report["tags"] == MOVE_TAGS, f"moved {report['tags']} tags, not {MOVE_TAGS}")
    conn = server.connection()
    try:
        for tag in ("t00000", f"t{MOVE_TAGS - 1:05d}"):
            reply = conn.request("HEAD", f"/v2/{new}/manifests/{tag}")
            expect(reply.status == 200, f"{new}:{tag} answered {reply.status} after the move")
    finally:
        conn.close()
    return [
        Measure(f"{unit}: unit of work", "ms", report["seconds"] * 1000, False),
        Measure(f"{unit}: whole command", "ms", whole, False),
    ]


WORKLOAD = Workload("move", setup_move, run_move)

"""`tinyreg serve --workers N`: several processes serving one data directory.

The parent binds the listening socket, forks the workers (before anything opens LMDB, which
must not cross a fork) and forwards SIGINT/SIGTERM to them. Each worker opens the data
directory itself; LMDB is made for several processes. An upload started on one worker can be
finished on another: that worker has no live hash of it, so it re-hashes the staging file.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable
from typing import Any

from tinyreg.config import ConfigError, Settings
from tinyreg.registry.numbers import parse_count


def worker_count(value: str) -> int:
    """`auto` (one per core) or a positive number."""
    if value == "auto":
        return os.cpu_count() or 1
    count = parse_count(value)  # ASCII digits: "²" is a digit to isdigit() but not to int()
    if count is None or count < 1:
        raise ConfigError(f"workers must be a positive number or 'auto', not {value!r}")
    return count


def bind_shared_sockets(settings: Settings) -> Any:
    """Bind and listen in the parent so every worker accepts on the same socket."""
    from tinyreg.server import hypercorn_config

    config = hypercorn_config(settings)
    sockets = config.create_sockets()
    for sock in sockets.insecure_sockets:
        sock.listen(config.backlog)
    return sockets


def run_workers(count: int, serve_one: Callable[[], int]) -> int:
    """Fork `count` workers running `serve_one`; return when all have stopped."""
    children: list[int] = []
    for _ in range(count):
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                code = serve_one()
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        children.append(pid)

    def forward(signum: int, frame: Any) -> None:
        for child in children:
            try:
                os.kill(child, signal.SIGTERM)
            except ProcessLookupError:
                pass

    signal.signal(signal.SIGINT, forward)
    signal.signal(signal.SIGTERM, forward)
    worst = 0
    for child in children:
        _, status = os.waitpid(child, 0)
        worst = max(worst, os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 1)
    return worst

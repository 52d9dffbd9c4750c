"""A real registry inside a test suite: `run_registry` (any code) and `open_registry` (trio).

    with run_registry() as registry:
        httpx.get(registry.url + "/v2/")

Each registry has its own data directory (a temporary one unless given), its own port and
no shared state, so several can run at once in one process.
"""

from __future__ import annotations

import queue
import shutil
import tempfile
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import trio

from tinyreg.config import Settings


@dataclass(frozen=True)
class RunningRegistry:
    """A registry that is serving: where to reach it and where its data lives."""

    url: str
    """Base URL, such as `http://127.0.0.1:41234`."""
    host: str
    """`host:port`, as image references want it (`127.0.0.1:41234/group/project:tag`)."""
    data_dir: Path


def _settings(data_dir: Path, host: str, port: int, options: dict[str, Any]) -> Settings:
    return Settings(host=host, port=port, data=data_dir, access_log=options.pop("access_log", False), **options)


@asynccontextmanager
async def open_registry(
    data_dir: Path | str | None = None, *, host: str = "127.0.0.1", port: int = 0, **options: Any
) -> AsyncIterator[RunningRegistry]:
    """Serve a registry from a task of the current trio program for the duration of the block."""
    from tinyreg.server import serve

    temporary = data_dir is None
    path = Path(tempfile.mkdtemp(prefix="tinyreg-")) if temporary else Path(data_dir)  # type: ignore[arg-type]
    stop = trio.Event()
    try:
        async with trio.open_nursery() as nursery:
            url = await nursery.start(lambda task_status: serve(_settings(path, host, port, dict(options)), stop=stop, task_status=task_status))
            try:
                yield RunningRegistry(url=url, host=url.split("://", 1)[1], data_dir=path)
            finally:
                stop.set()
    finally:
        if temporary:
            shutil.rmtree(path, ignore_errors=True)


@contextmanager
def run_registry(
    data_dir: Path | str | None = None, *, host: str = "127.0.0.1", port: int = 0, **options: Any
) -> Iterator[RunningRegistry]:
    """Serve a registry from a background thread (its own trio loop) for the duration of the block."""
    started: queue.Queue[tuple[RunningRegistry | None, BaseException | None, Any]] = queue.Queue()

    async def main() -> None:
        stop = trio.Event()
        try:
            async with open_registry(data_dir, host=host, port=port, **options) as running:
                started.put((running, None, (trio.lowlevel.current_trio_token(), stop)))
                await stop.wait()
        except BaseException as exc:  # reported to the caller's thread
            if started.empty():
                started.put((None, exc, None))
            raise

    thread = threading.Thread(target=lambda: _run_quietly(main), name="tinyreg", daemon=True)
    thread.start()
    running, error, handle = started.get()
    if running is None:
        thread.join()
        raise RuntimeError(f"tinyreg did not start: {error}") from error
    token, stop = handle
    try:
        yield running
    finally:
        trio.from_thread.run_sync(stop.set, trio_token=token)
        thread.join()


def _run_quietly(main: Any) -> None:
    try:
        trio.run(main)
    except BaseException:  # already reported through the queue, or a failure after stop
        pass

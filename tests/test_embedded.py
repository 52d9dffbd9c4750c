"""The embedded registry: `run_registry` (a thread) and `open_registry` (a trio task).

Their lifecycle and data directories, several registries in one process, no leaks over many
runs, and clear start errors. The push and access helpers are in `test_embedded_helpers.py`.
"""

from __future__ import annotations

import os
import tempfile
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio
from tinyreg.testing import RegistryStartError, RunningRegistry, open_registry, run_registry

from tests.helpers import api_client, digest_of
from tests.manifest_builders import OCI_MANIFEST
from tests.processes import accepts_connections, free_port, memory_kib, open_fd_count, port_in_use, unusable_data_dir

RUNS = 100
WARMUP_RUNS = 10
FD_SLACK = 5
RSS_GROWTH_LIMIT_KIB = 30 * 1024
TRIO_POOL_PREFIX = "Trio thread "


@pytest.fixture
def private_tempdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Make `tempfile` create temporary data directories in an empty directory of this test."""
    root = tmp_path / "tmp"
    root.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(root))
    return root


def pool_threads() -> list[threading.Thread]:
    """trio's idle worker threads (they linger in a cache for reuse, then exit on their own)."""
    return [thread for thread in threading.enumerate() if thread.name.startswith(TRIO_POOL_PREFIX)]


def lasting_threads() -> set[threading.Thread]:
    """Every thread but trio's worker cache."""
    return {thread for thread in threading.enumerate() if not thread.name.startswith(TRIO_POOL_PREFIX)}


def rss_kib() -> int:
    """This process's resident set size."""
    return memory_kib(os.getpid())["VmRSS"]


# -- lifecycle ------------------------------------------------------------------------------


def test_run_registry_serves_on_a_free_loopback_port_and_removes_its_temporary_data_dir(private_tempdir: Path) -> None:
    with run_registry() as running:
        assert running.host.startswith("127.0.0.1:") and int(running.host.rpartition(":")[2]) > 0
        assert running.url == f"http://{running.host}"
        assert running.data_dir.is_dir() and running.data_dir.parent == private_tempdir
        with api_client(running.url) as client:
            assert client.get("/v2/").status_code == 200
    assert not running.data_dir.exists()
    assert not accepts_connections(running.host)
    assert list(private_tempdir.iterdir()) == []


async def test_open_registry_serves_from_the_trio_program_and_removes_its_temporary_data_dir(private_tempdir: Path) -> None:
    async with open_registry() as running, httpx.AsyncClient(base_url=running.url) as client:
        assert running.host.startswith("127.0.0.1:") and running.url == f"http://{running.host}"
        assert running.data_dir.is_dir() and running.data_dir.parent == private_tempdir
        response = await client.get("/v2/")
        assert response.status_code == 200
        assert response.headers["Docker-Distribution-API-Version"] == "registry/2.0"
    assert not running.data_dir.exists()
    assert not accepts_connections(running.host)
    assert list(private_tempdir.iterdir()) == []


def test_a_given_port_is_used(tmp_path: Path) -> None:
    port = free_port()
    with run_registry(tmp_path / "data", port=port) as running:
        assert running.host == f"127.0.0.1:{port}"
        assert httpx.get(f"{running.url}/v2/", timeout=60).status_code == 200


def test_run_registry_keeps_a_given_data_dir_and_serves_its_content_again(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    with run_registry(data_dir) as first:
        digest = first.push_image("team/app", "1.0")
    assert first.data_dir == data_dir and data_dir.is_dir() and any(data_dir.iterdir())
    with run_registry(str(data_dir)) as second, api_client(second.url) as client:
        assert second.data_dir == data_dir
        manifest = client.get("/v2/team/app/manifests/1.0", headers={"Accept": OCI_MANIFEST})
        assert manifest.headers["Docker-Content-Digest"] == digest == digest_of(manifest.content)
        assert client.get("/v2/team/app/tags/list").json() == {"name": "team/app", "tags": ["1.0"]}


async def test_open_registry_keeps_a_given_data_dir_and_serves_its_content_again(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    async with open_registry(data_dir) as first:
        digest = first.push_blob("team/app", b"kept between runs")
    assert data_dir.is_dir()
    async with open_registry(data_dir) as second, httpx.AsyncClient(base_url=second.url) as client:
        response = await client.get(f"/v2/team/app/blobs/{digest}")
    assert response.status_code == 200 and response.content == b"kept between runs"


# -- several registries at once -------------------------------------------------------------


def seed_and_expect(registries: list[RunningRegistry]) -> list[tuple[str, int]]:
    """Push one tag and one blob of its own into each registry; return (url, expected status)
    for every tag and blob in every registry: 200 where it was pushed, 404 elsewhere."""
    pushed = []
    for number, running in enumerate(registries):
        running.push_image("team/app", f"v{number}")
        pushed.append((f"v{number}", running.push_blob("team/app", f"only in registry {number}".encode())))
    return [
        (f"{running.url}/v2/team/app/{kind}/{reference}", 200 if owner == number else 404)
        for number, running in enumerate(registries)
        for owner, (tag, blob) in enumerate(pushed)
        for kind, reference in (("manifests", tag), ("blobs", blob))
    ]


def assert_distinct(registries: list[RunningRegistry]) -> None:
    """No two registries share a port or a data directory."""
    assert len({running.host for running in registries}) == len(registries)
    assert len({running.data_dir for running in registries}) == len(registries)


def test_five_registries_started_from_threads_at_once_share_nothing() -> None:
    with ExitStack() as stack, ThreadPoolExecutor(max_workers=5) as pool:
        lock = threading.Lock()

        def start(_: int) -> RunningRegistry:
            manager = run_registry()
            running = manager.__enter__()
            with lock:
                stack.push(manager)
            return running

        registries = list(pool.map(start, range(5)))
        assert_distinct(registries)
        expected = seed_and_expect(registries)
        with httpx.Client(headers={"Accept": OCI_MANIFEST}, timeout=60) as client:
            assert [(url, client.get(url).status_code) for url, _ in expected] == expected
    assert not any(accepts_connections(running.host) for running in registries)


async def test_five_registries_in_one_nursery_share_nothing() -> None:
    registries: list[RunningRegistry] = []
    done = trio.Event()

    async def serve_one(task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with open_registry() as running:
            registries.append(running)
            task_status.started()
            await done.wait()

    async with trio.open_nursery() as nursery:
        for _ in range(5):
            await nursery.start(serve_one)
        assert_distinct(registries)
        expected = seed_and_expect(registries)
        async with httpx.AsyncClient(headers={"Accept": OCI_MANIFEST}) as client:
            assert [(url, (await client.get(url)).status_code) for url, _ in expected] == expected
        done.set()
    assert not any(running.data_dir.exists() for running in registries)


# -- no leaks over many runs ----------------------------------------------------------------


def assert_nothing_leaked(threads: set[threading.Thread], fds: int, rss_after_warmup: int) -> None:
    """Threads back to `threads` (trio's worker cache aside, which stays small), descriptors
    back to `fds` within a small slack, memory grown by less than the limit since the warm-up."""
    assert lasting_threads() == threads
    assert len(pool_threads()) <= 4, pool_threads()
    assert open_fd_count() - fds <= FD_SLACK
    assert rss_kib() - rss_after_warmup < RSS_GROWTH_LIMIT_KIB


def test_a_hundred_run_registry_cycles_leak_no_thread_descriptor_or_memory() -> None:
    threads, fds, rss_after_warmup = lasting_threads(), open_fd_count(), 0
    for run in range(RUNS):
        with run_registry() as running, httpx.Client(base_url=running.url, timeout=60) as client:
            digest = running.push_blob("leak/check", f"run {run}".encode())
            assert client.get(f"/v2/leak/check/blobs/{digest}").status_code == 200
            assert (
                client.post("/v2/leak/check/blobs/uploads/", params={"digest": digest_of(b"up")}, content=b"up").status_code
                == 201
            )
        if run == WARMUP_RUNS - 1:
            rss_after_warmup = rss_kib()
    assert_nothing_leaked(threads, fds, rss_after_warmup)


async def test_a_hundred_open_registry_cycles_in_one_trio_run_leak_no_thread_descriptor_or_memory() -> None:
    threads, fds, rss_after_warmup = lasting_threads(), open_fd_count(), 0
    for run in range(RUNS):
        async with open_registry() as running, httpx.AsyncClient(base_url=running.url) as client:
            digest = running.push_blob("leak/check", f"run {run}".encode())
            assert (await client.get(f"/v2/leak/check/blobs/{digest}")).status_code == 200
            assert (
                await client.post("/v2/leak/check/blobs/uploads/", params={"digest": digest_of(b"up")}, content=b"up")
            ).status_code == 201
        if run == WARMUP_RUNS - 1:
            rss_after_warmup = rss_kib()
    assert_nothing_leaked(threads, fds, rss_after_warmup)


# -- failures -------------------------------------------------------------------------------


def with_run_registry(body: Callable[[RunningRegistry], Any] = lambda _: None, **options: Any) -> None:
    """Start a registry with `run_registry`, call `body` with it, stop it."""
    with run_registry(**options) as running:
        body(running)


def with_open_registry(body: Callable[[RunningRegistry], Any] = lambda _: None, **options: Any) -> None:
    """Start a registry with `open_registry` in a trio run of its own, call `body` with it, stop it."""

    async def main() -> None:
        async with open_registry(**options) as running:
            body(running)

    trio.run(main)


STARTERS = pytest.mark.parametrize("start", [with_run_registry, with_open_registry], ids=["run_registry", "open_registry"])


@STARTERS
def test_a_port_in_use_is_a_start_error_naming_the_address_and_the_cause(
    start: Callable[..., None], private_tempdir: Path
) -> None:
    threads = lasting_threads()
    with port_in_use() as port, pytest.raises(RegistryStartError) as info:
        start(port=port)
    assert f"cannot listen on 127.0.0.1:{port}" in str(info.value)
    assert "Address already in use" in str(info.value)
    assert list(private_tempdir.iterdir()) == []
    assert lasting_threads() == threads


@STARTERS
def test_a_data_dir_under_a_regular_file_is_a_start_error_naming_the_directory(
    start: Callable[..., None], tmp_path: Path
) -> None:
    data_dir = unusable_data_dir(tmp_path)
    with pytest.raises(RegistryStartError) as info:
        start(data_dir=data_dir)
    assert str(data_dir) in str(info.value)


class Failure(Exception):
    """Raised by a test body inside a running registry."""


def fail(running: RunningRegistry) -> None:
    """A test body that fails, carrying the registry it ran in."""
    raise Failure(running)


@STARTERS
def test_an_exception_from_the_body_comes_out_as_itself_and_the_registry_stops(
    start: Callable[..., None], private_tempdir: Path
) -> None:
    with pytest.raises(Failure) as info:
        start(fail)
    assert type(info.value) is Failure
    [running] = info.value.args
    assert not accepts_connections(running.host)
    assert not running.data_dir.exists()


def fail_from_a_cause(running: RunningRegistry) -> None:
    """A test body that fails `from` another exception."""
    raise Failure(running) from KeyError("the cause")


def fail_while_handling(running: RunningRegistry) -> None:
    """A test body that fails while handling another exception."""
    try:
        raise KeyError("the context")
    except KeyError:
        raise Failure(running)  # noqa: B904 (the test needs the implicit context)


@STARTERS
@pytest.mark.parametrize(("body", "link"), [(fail_from_a_cause, "__cause__"), (fail_while_handling, "__context__")])
def test_an_exception_from_the_body_keeps_the_exception_it_is_chained_to(
    start: Callable[..., None], body: Callable[[RunningRegistry], None], link: str
) -> None:
    with pytest.raises(Failure) as info:
        start(body)
    chained = getattr(info.value, link)
    assert isinstance(chained, KeyError), f"{link} is {chained!r}"

"""Garbage collection inside `tinyreg serve` while clients push and pull over HTTP.

A short interval and a short grace make collections race the pushes; whatever a client
managed to tag must still pull back byte for byte, and each collection's freed bytes are the
sizes of the blobs it names."""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
import trio
from tinyreg.samples import Sample, image, sha256

from tests.helpers import api_client
from tests.image_traffic import pulls_back, push_sample
from tests.processes import ServerProcess, wait_until

PUSHERS = 8
PULLERS = 8
IMAGES = 6  # per pusher; the first two are deleted again
COLLECTED = re.compile(r"gc removed (\d+) blobs \((\d+) bytes freed\).*?: ?(.*)$")


def collections(log: str) -> list[tuple[int, list[str]]]:
    """(bytes freed, digests) of each logged collection."""
    return [(int(m.group(2)), m.group(3).split()) for line in log.splitlines() if (m := COLLECTED.search(line))]


def test_gc_while_eight_clients_push_and_eight_pull(tmp_path: Path) -> None:
    samples = {(p, k): image(seed=f"online-gc-{p}-{k}", layers=2) for p in range(PUSHERS) for k in range(IMAGES)}
    kept: list[tuple[str, str, Sample]] = []
    failures: list[str] = []
    lock = threading.Lock()
    pushing_done = threading.Event()
    args = ["serve", "--port", "0", "--data", str(tmp_path / "data"), "--gc-interval", "0.2", "--gc-grace", "2s"]
    with ServerProcess(args, cwd=tmp_path) as server:
        url = server.wait_listening()

        def pusher(p: int) -> None:
            with api_client(url) as client:
                for k in range(IMAGES):
                    push_sample(client, f"gc/r{p}", f"t{k}", samples[p, k])
                    if k >= 2:
                        with lock:
                            kept.append((f"gc/r{p}", f"t{k}", samples[p, k]))
                for k in range(2):  # deleted by digest: its blobs are garbage now
                    response = client.delete(f"/v2/gc/r{p}/manifests/{samples[p, k].digest}")
                    assert response.status_code == 202, response.text

        def puller(n: int) -> None:
            with api_client(url) as client:
                for _ in range(200):  # bounded; stops once the pushers are done
                    with lock:
                        batch = list(kept)
                    for repo, tag, sample in batch[n % max(len(batch), 1) :][:3]:
                        if not pulls_back(client, repo, tag, sample):
                            with lock:
                                failures.append(f"{repo}:{tag}")
                    if pushing_done.is_set():
                        return

        def guarded(target: Callable[[int], None], n: int) -> None:
            try:
                target(n)
            except BaseException as exc:  # noqa: BLE001 - reported by the main thread
                with lock:
                    failures.append(repr(exc))

        threads = [threading.Thread(target=guarded, args=(pusher, p)) for p in range(PUSHERS)]
        pullers = [threading.Thread(target=guarded, args=(puller, n)) for n in range(PULLERS)]
        for thread in threads + pullers:
            thread.start()
        for thread in threads:
            thread.join(timeout=300)
        pushing_done.set()
        for thread in pullers:
            thread.join(timeout=300)
        assert not failures, failures

        sizes = {sha256(blob): len(blob) for sample in samples.values() for blob in sample.blobs}
        still_needed = {sha256(blob) for _, _, sample in kept for blob in sample.blobs}
        garbage = {sha256(blob) for k, sample in samples.items() if k[1] < 2 for blob in sample.blobs} - still_needed

        def all_garbage_freed() -> bool:
            return garbage <= {d for _, digests in collections(server.text("stderr")) for d in digests}

        wait_until(all_garbage_freed, "the deleted images' blobs collected", timeout=60)
        with api_client(url) as client:
            assert [f"{r}:{t}" for r, t, s in kept if not pulls_back(client, r, t, s)] == []
        log = server.text("stderr")
        assert server.stop() == 0
    for freed, digests in collections(log):
        assert freed == sum(sizes[d] for d in digests)


def test_a_worker_finding_a_collection_running_skips_its_round(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from tinyreg.config import Settings
    from tinyreg.housekeeping import run_online_gc
    from tinyreg.registry.core import Registry

    registry = Registry(tmp_path / "data")
    settings = Settings(data=tmp_path / "data", gc_interval=0.01, gc_grace=0.0)
    caplog.set_level(logging.DEBUG, logger="tinyreg.housekeeping")

    async def main() -> None:
        with registry.store.collection_lock():  # as another worker's collection would
            async with trio.open_nursery() as nursery:
                nursery.start_soon(run_online_gc, registry, settings)
                for _ in range(500):  # bounded: until two rounds were skipped
                    if sum("gc skipped" in r.getMessage() for r in caplog.records) >= 2:
                        break
                    await trio.sleep(0.01)
                nursery.cancel_scope.cancel()

    try:
        trio.run(main)
    finally:
        registry.close()
    assert sum("gc skipped" in r.getMessage() for r in caplog.records) >= 2
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]

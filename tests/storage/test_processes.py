"""Several processes on one storage: concurrent writers, and a writer killed mid-commit."""

from __future__ import annotations

import multiprocessing
import os
import signal
import time

from tinyreg.digest import Digest
from tinyreg.storage.interfaces import MetaWriter

from .backends import Backend, open_backend

ROUNDS = 200


def _writer(kind: str, location: str, name: str, start) -> None:  # type: ignore[no-untyped-def]
    opened = open_backend(kind, location)
    start.wait(60)
    try:
        for i in range(ROUNDS):

            def change(tx: MetaWriter, i: int = i) -> None:
                token_id = tx.next_counter("token")
                tx.put_token(f"{name}-{i}".encode(), token_id, {"id": token_id, "by": name})
                tx.set_tag(name, f"t{i}", "sha256:" + "1" * 64, time.time())

            opened.meta.write(change)
    finally:
        opened.close()


def test_two_processes_writing_at_once_lose_nothing(backend: Backend) -> None:
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Event()
    children = [ctx.Process(target=_writer, args=(backend.kind, backend.location, name, start)) for name in ("a", "b")]
    for child in children:
        child.start()
    start.set()
    for child in children:
        child.join(120)
        assert child.exitcode == 0
    with backend.meta.read() as tx:
        assert tx.counter("token") == 2 * ROUNDS
        ids = sorted(tx.token(key)["id"] for key in tx.iter_token_keys())  # type: ignore[index]
        assert ids == list(range(1, 2 * ROUNDS + 1))  # every counter value handed out once
        for name in ("a", "b"):
            assert len(tx.tags(name, after=None, limit=10 * ROUNDS)[0]) == ROUNDS


def _record(tx: MetaWriter, digest: str, size: int) -> None:
    now = time.time()
    tx.put_blob(digest, {"size": size, "created": now})
    tx.put_link("r", digest, {"size": size, "created": now})
    tx.ensure_repository("r")


def _pusher(kind: str, location: str, ready) -> None:  # type: ignore[no-untyped-def]
    """Push blobs as a registry does (bytes committed, then row and link in one unit of work), forever."""
    opened = open_backend(kind, location)
    i = 0
    while True:
        data = os.urandom(1000 + i % 5000) * (1 + i % 7)
        digest = Digest.of(data)
        opened.blobs.put(data, digest)
        opened.meta.write(lambda tx, d=str(digest), n=len(data): _record(tx, d, n))  # noqa: B008
        i += 1
        if i == 20:
            ready.set()


def test_a_writer_killed_mid_commit_leaves_every_linked_blob_whole(backend: Backend) -> None:
    ctx = multiprocessing.get_context("spawn")
    for _ in range(3):
        ready = ctx.Event()
        child = ctx.Process(target=_pusher, args=(backend.kind, backend.location, ready))
        child.start()
        assert ready.wait(120)
        time.sleep(0.05)  # let it be somewhere in the middle of a commit
        os.kill(child.pid, signal.SIGKILL)  # type: ignore[arg-type]
        child.join(60)
    reopened = backend.reopen()
    try:
        with reopened.meta.read() as tx:
            links = list(tx.iter_links())
            rows = {digest: tx.blob(digest) for digest in tx.iter_blobs()}
        assert len(links) >= 60
        for _, digest, link in links:
            assert rows[digest] is not None and rows[digest]["size"] == link["size"]  # type: ignore[index]
            algorithm, encoded = digest.split(":")
            with reopened.blobs.open(Digest(algorithm, encoded)) as file:
                data = file.read()
            assert len(data) == link["size"] and Digest.of(data) == Digest(algorithm, encoded)
    finally:
        reopened.close()

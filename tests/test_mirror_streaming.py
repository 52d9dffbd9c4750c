"""A blob pulled through the cache by several clients at once: one upstream GET, and a client
coming while the fetch has not sent any bytes yet gets them as they come (it does not wait for
the end), from an upstream that holds the rest of the blob back until the test lets it go.
A HEAD meanwhile is answered with what upstream said. Verified bytes reach the clients before
the blob's commit (its sync) ends; how a batch is cut into the pieces the clients get."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from tinyreg.http.mirror_blobs import RELAY_PIECE, relay_pieces
from tinyreg.registry.mirrors import Mirror
from tinyreg.testing import run_registry

from tests.mirror_helpers import sha256

BLOB = bytes(range(256)) * 16384 * 3  # 12 MiB
FIRST_PART = 1536 * 1024  # more than one write batch, so the fetch has read a batch but relayed none


class _HoldingBack(BaseHTTPRequestHandler):
    """Sends the first part of the blob, then waits for `release` before the rest."""

    protocol_version = "HTTP/1.1"
    started = threading.Event()
    release = threading.Event()
    gets = 0

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        if not self.path.endswith(sha256(BLOB)):
            self._not_found()
            return
        type(self).gets += 1
        self.send_response(200)
        self.send_header("Content-Length", str(len(BLOB)))
        self.end_headers()
        self.wfile.write(BLOB[:FIRST_PART])
        self.wfile.flush()
        self.started.set()
        assert self.release.wait(timeout=60)
        self.wfile.write(BLOB[FIRST_PART:])

    def _not_found(self) -> None:
        self.send_response(404)
        self.send_header("Content-Length", "0")
        self.end_headers()


def test_a_client_coming_during_the_fetch_streams_with_it() -> None:
    class Handler(_HoldingBack):
        started, release = threading.Event(), threading.Event()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    path = f"/v2/hub/library/big/blobs/{sha256(BLOB)}"
    try:
        with run_registry(mirrors=(Mirror("hub", f"http://127.0.0.1:{server.server_address[1]}"),)) as cache:

            def first() -> bytes:
                return httpx.get(cache.url + path, timeout=60).content

            with ThreadPoolExecutor(1) as pool:
                first_body = pool.submit(first)
                assert Handler.started.wait(timeout=60)
                with httpx.Client(timeout=30) as client, client.stream("GET", cache.url + path) as second:
                    # Its answer started while upstream still holds back most of the blob.
                    assert second.status_code == 200 and not Handler.release.is_set()
                    assert second.headers["Content-Length"] == str(len(BLOB))
                    Handler.release.set()
                    assert sha256(second.read()) == sha256(BLOB)
                assert sha256(first_body.result(timeout=60)) == sha256(BLOB)
            assert Handler.gets == 1
            assert httpx.get(cache.url + path, timeout=60).content == BLOB  # cached: upstream not asked again
            assert Handler.gets == 1
    finally:
        Handler.release.set()
        server.shutdown()
        server.server_close()


def test_a_head_during_the_fetch_is_answered_without_waiting_for_its_end() -> None:
    class Handler(_HoldingBack):
        started, release, gets = threading.Event(), threading.Event(), 0

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    path = f"/v2/hub/library/big/blobs/{sha256(BLOB)}"
    try:
        with run_registry(mirrors=(Mirror("hub", f"http://127.0.0.1:{server.server_address[1]}"),)) as cache:
            with ThreadPoolExecutor(1) as pool:
                first_body = pool.submit(lambda: httpx.get(cache.url + path, timeout=60).content)
                assert Handler.started.wait(timeout=60)
                head = httpx.head(cache.url + path, timeout=30)
                # What upstream said of the blob, while it still holds back most of it.
                assert head.status_code == 200 and not Handler.release.is_set()
                assert head.headers["Content-Length"] == str(len(BLOB))
                assert head.headers["Docker-Content-Digest"] == sha256(BLOB)
                Handler.release.set()
                assert sha256(first_body.result(timeout=60)) == sha256(BLOB)
            assert Handler.gets == 1
    finally:
        Handler.release.set()
        server.shutdown()
        server.server_close()


def test_the_client_has_the_verified_blob_before_its_commit_ends() -> None:
    class Handler(_HoldingBack):
        started, release, gets = threading.Event(), threading.Event(), 0

    Handler.release.set()  # the whole blob at once

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    path = f"/v2/hub/library/big/blobs/{sha256(BLOB)}"
    committing, release = threading.Event(), threading.Event()
    try:
        with run_registry(mirrors=(Mirror("hub", f"http://127.0.0.1:{server.server_address[1]}"),)) as cache:
            store = cache._registry.store
            commit = store.commit

            def held_commit(upload_id: str, digest: object) -> None:
                committing.set()  # the blob is being made durable: held until the test lets it go
                assert release.wait(timeout=30)
                commit(upload_id, digest)  # type: ignore[arg-type]  # the digest the flight passed

            store.commit = held_commit  # type: ignore[method-assign]  # the disk's sync, held by the test
            with httpx.Client(timeout=20) as client:
                first = client.get(cache.url + path)  # the whole body while the commit is held
                assert committing.wait(timeout=30) and not release.is_set()  # the commit began, and is held
                assert first.status_code == 200 and sha256(first.content) == sha256(BLOB)
                with ThreadPoolExecutor(1) as pool:
                    # Coming during the commit (or just after): served once the flight ends, not fetched again.
                    second = pool.submit(lambda: httpx.get(cache.url + path, timeout=60).content)
                    release.set()
                    assert sha256(second.result(timeout=60)) == sha256(BLOB)
            assert Handler.gets == 1
    finally:
        release.set()
        server.shutdown()
        server.server_close()


BIG, SMALL = b"B" * RELAY_PIECE, b"s" * 1000


@pytest.mark.parametrize(
    ("chunks", "pieces"),
    [
        ([], []),
        ([BIG], [BIG]),
        ([BIG, BIG], [BIG, BIG]),
        ([SMALL, SMALL], [SMALL * 2]),
        ([SMALL, BIG, SMALL, SMALL], [SMALL, BIG, SMALL * 2]),
        ([BIG, SMALL], [BIG, SMALL]),
    ],
)
def test_large_chunks_are_relayed_as_they_came_and_runs_of_small_ones_joined(chunks: list[bytes], pieces: list[bytes]) -> None:
    relayed = relay_pieces(chunks)
    assert relayed == pieces
    assert all(any(piece is chunk for chunk in chunks) for piece in relayed if len(piece) >= RELAY_PIECE)  # no copy

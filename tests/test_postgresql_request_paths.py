"""The request paths on PostgreSQL metadata: a server keeps answering while one request's metadata
call waits on the database (the calls run in worker threads, not on the event loop every request
shares), and a pull's snapshot costs as few statements as it can."""

from __future__ import annotations

import json
import re
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import httpx
import psycopg
import pytest
from psycopg.pq import Trace
from tinyreg.storage.interfaces import ManifestRow
from tinyreg.storage.pg.store import PgMetaStore, PgWriter
from tinyreg.storage.pg.tx import PgTx

from tests.helpers import api_client
from tests.manifest_builders import push_image
from tests.processes import ServerProcess, wait_until
from tests.servers.postgres import PostgresCluster

WAITING_ON_TAGS = "SELECT count(*) FROM pg_locks WHERE relation = 'tags'::regclass AND NOT granted"


@pytest.fixture
def empty_database(postgres_cluster: PostgresCluster) -> Iterator[str]:
    url = postgres_cluster.fresh_database(migrated=False)
    yield url
    postgres_cluster.drop_database(url)


def test_requests_are_answered_while_a_metadata_call_waits_on_a_lock(empty_database: str, tmp_path: Path) -> None:
    server = ServerProcess(["serve", "--port", "0", "--data", str(tmp_path / "data"), "--metadata", empty_database], cwd=tmp_path)
    try:
        url = server.wait_listening(timeout=60)
        with api_client(url) as client:
            image = push_image(client, "team/app", "v1")
            accept = {"Accept": image.media_type}
            pulled: list[httpx.Response] = []

            def pull_by_tag() -> None:
                with api_client(url) as puller:
                    pulled.append(puller.get("/v2/team/app/manifests/v1", headers=accept))

            with psycopg.connect(empty_database) as holder, psycopg.connect(empty_database, autocommit=True) as watcher:
                # A transaction that holds the tags table: the pull's read of its tag waits for it.
                holder.execute("LOCK TABLE tags IN ACCESS EXCLUSIVE MODE")
                waiting = threading.Thread(target=pull_by_tag)
                waiting.start()
                try:
                    wait_until(lambda: watcher.execute(WAITING_ON_TAGS).fetchone() == (1,), "the pull waiting on the lock")
                    # Answered while the pull's call waits: the process's liveness, and metadata reads
                    # that do not need the locked table (each in a thread of its own).
                    assert httpx.get(f"{url}/healthz", timeout=60).status_code == 200
                    by_digest = client.get(f"/v2/team/app/manifests/{image.digest}", headers=accept)
                    assert (by_digest.status_code, by_digest.content) == (200, image.body)
                    config = json.loads(image.body)["config"]["digest"]
                    assert client.get(f"/v2/team/app/blobs/{config}").status_code == 200
                    assert pulled == []  # the pull by tag still waits
                finally:
                    holder.rollback()
                    waiting.join(timeout=60)
            assert [(response.status_code, response.content) for response in pulled] == [(200, image.body)]
            with psycopg.connect(empty_database, autocommit=True) as watcher:
                # Every snapshot and unit of work ended: nothing is left open on the pool's connections.
                open_transactions = watcher.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND state LIKE 'idle in transaction%%' AND pid <> pg_backend_pid()"
                ).fetchone()
                assert open_transactions == (0,)
    finally:
        assert server.stop() == 0, server.text("stderr")


@pytest.mark.parametrize(
    ("table", "method", "path", "status"),
    [("links", "DELETE", "/v2/team/app/blobs/{layer}", 202), ("stored_bytes", "GET", "/metrics", 200)],
)
def test_a_request_waiting_on_a_lock_holds_up_no_other(
    empty_database: str, tmp_path: Path, table: str, method: str, path: str, status: int
) -> None:
    server = ServerProcess(["serve", "--port", "0", "--data", str(tmp_path / "data"), "--metadata", empty_database], cwd=tmp_path)
    try:
        url = server.wait_listening(timeout=60)
        with api_client(url) as client:
            image = push_image(client, "team/app", "v1")
            layer = json.loads(image.body)["layers"][0]["digest"]
            answered: list[int] = []

            def send() -> None:
                with api_client(url) as sender:
                    answered.append(sender.request(method, path.format(layer=layer)).status_code)

            waiting_on_it = f"SELECT count(*) FROM pg_locks WHERE relation = '{table}'::regclass AND NOT granted"
            with psycopg.connect(empty_database) as holder, psycopg.connect(empty_database, autocommit=True) as watcher:
                holder.execute(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")
                waiting = threading.Thread(target=send)
                waiting.start()
                try:
                    wait_until(lambda: watcher.execute(waiting_on_it).fetchone() == (1,), f"{method} {path} waiting on the lock")
                    assert httpx.get(f"{url}/healthz", timeout=60).status_code == 200
                    by_tag = client.get("/v2/team/app/manifests/v1", headers={"Accept": image.media_type})
                    assert (by_tag.status_code, by_tag.content) == (200, image.body)
                    assert answered == []
                finally:
                    holder.rollback()
                    waiting.join(timeout=60)
            assert answered == [status]
    finally:
        assert server.stop() == 0, server.text("stderr")


def _statements_sent(tx: PgTx, reads: Sequence[Callable[[], object]]) -> tuple[list[object], int]:
    """What `reads` (calls on `tx`) return, and how many statements they sent (libpq's trace of the
    snapshot's connection: one Bind message per statement, prepared or not)."""
    conn = tx.conn
    with tempfile.TemporaryFile("w+") as trace:
        conn.pgconn.trace(trace.fileno())
        conn.pgconn.set_trace_flags(Trace.SUPPRESS_TIMESTAMPS | Trace.REGRESS_MODE)
        try:
            results = [read() for read in reads]
        finally:
            conn.pgconn.untrace()
        trace.seek(0)
        return results, sum(1 for line in trace if line.startswith("F") and "\tBind\t" in line)


def test_a_snapshot_reads_a_tag_with_its_manifest_and_bytes_in_one_statement(postgres_cluster: PostgresCluster) -> None:
    url = postgres_cluster.fresh_database()
    meta = PgMetaStore(url)
    digest = "sha256:" + "a" * 64
    row: ManifestRow = {"media_type": "application/vnd.oci.image.manifest.v1+json", "size": 3, "artifact_type": None,
                        "subject": None, "annotations": None, "refs": [], "created": 1.0, "children": 0}  # fmt: skip
    try:

        def store_tagged(tx: PgWriter) -> None:
            tx.ensure_repository("team/app")
            tx.put_manifest("team/app", digest, b"one", row)
            tx.set_tag("team/app", "v1", digest, 2.0)

        meta.write(store_tagged)
        with meta.read() as tx:  # a GET by tag: tag, manifest, bytes
            by_tag: list[Callable[[], object]] = [
                lambda: tx.tag_digest("team/app", "v1"),
                lambda: tx.manifest("team/app", digest),
                lambda: tx.manifest_data(digest),
            ]
            results, sent = _statements_sent(tx, by_tag)
            assert (results[0], results[1] == row, results[2], sent) == (digest, True, b"one", 1)
        with meta.read() as tx:  # a GET by digest: manifest, bytes
            results, sent = _statements_sent(tx, [lambda: tx.manifest("team/app", digest), lambda: tx.manifest_data(digest)])
            assert (results[0] == row, results[1], sent) == (True, b"one", 1)
        with meta.read() as tx:  # an unknown tag, then an unknown manifest: nothing wrongly remembered
            results, sent = _statements_sent(
                tx, [lambda: tx.tag("team/app", "v2"), lambda: tx.manifest("team/app", "sha256:" + "b" * 64)]
            )
            assert (results, sent) == ([None, None], 2)
    finally:
        meta.close()
        postgres_cluster.drop_database(url)


#: A statement in PostgreSQL's log (log_statement = all; the default prefix names the backend's pid).
LOGGED_STATEMENT = re.compile(r"\[(\d+)\] LOG:  (?:statement|execute [^:]*): (.*)")


def _statements_of_the_read(log: str) -> list[str]:
    """The statements logged by the connections that read a tag, a manifest or a blob's link (a
    background task's statements on other connections are left out)."""
    logged = [(match[1], match[2]) for match in map(LOGGED_STATEMENT.search, log.splitlines()) if match]
    readers = {pid for pid, sql in logged if re.search(r"\b(tags t|manifests m|links l)\b", sql)}
    return [sql for pid, sql in logged if pid in readers]


def test_a_manifest_or_blob_get_or_head_is_one_statement_on_the_database(
    postgres_cluster: PostgresCluster, tmp_path: Path
) -> None:
    url = postgres_cluster.fresh_database()
    postgres_cluster.admin(f"ALTER DATABASE {url.rsplit('/', 1)[1]} SET log_statement = 'all'")
    log = postgres_cluster.dir / "postgres.log"
    server = ServerProcess(["serve", "--port", "0", "--data", str(tmp_path / "data"), "--metadata", url], cwd=tmp_path)
    try:
        with api_client(server.wait_listening(timeout=60)) as client:
            image = push_image(client, "team/app", "v1")
            layer = json.loads(image.body)["layers"][0]["digest"]
            # A manifest by tag and by digest, a layer, and a manifest fetched as a blob.
            paths = {"manifests/v1": image.digest, f"manifests/{image.digest}": image.digest}
            paths |= {f"blobs/{layer}": layer, f"blobs/{image.digest}": image.digest}
            for method, path in ((method, path) for method in ("GET", "HEAD") for path in paths):
                logged_before = log.stat().st_size
                response = client.request(method, f"/v2/team/app/{path}", headers={"Accept": image.media_type})
                assert (response.status_code, response.headers["docker-content-digest"]) == (200, paths[path])
                with log.open("rb") as stream:
                    stream.seek(logged_before)
                    statements = _statements_of_the_read(stream.read().decode(errors="replace"))
                # No BEGIN, no COMMIT, no separate look-up of the name's alias: one round trip.
                assert len(statements) == 1, (method, path, statements)
    finally:
        assert server.stop() == 0, server.text("stderr")
        postgres_cluster.drop_database(url)

"""A server on PostgreSQL metadata keeps answering while one request's metadata call waits on the
database: the calls run in worker threads, not on the event loop every request shares."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest

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

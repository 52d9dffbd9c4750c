"""The lookups of pulls sent from the event loop (`LoopReads`): on connections of their own, and
through the pool in a worker thread whenever that is not possible, with the same answers."""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from functools import partial

import psycopg
import pytest
import trio
from tinyreg.storage.interfaces import ManifestRow
from tinyreg.storage.pg.loop_reads import APPLICATION_NAME, LoopReads, numbered
from tinyreg.storage.pg.pull_lookups import BY_TAG
from tinyreg.storage.pg.store import PgMetaStore, PgWriter

from tests.processes import wait_until
from tests.servers.postgres import PostgresCluster

DIGEST = "sha256:" + "a" * 64
ROW: ManifestRow = {"media_type": "application/vnd.oci.image.manifest.v1+json", "size": 2, "artifact_type": None,
                    "subject": None, "annotations": None, "refs": [], "created": 1.0}  # fmt: skip
LOOKUPS = f"SELECT pid FROM pg_stat_activity WHERE application_name = '{APPLICATION_NAME}' AND datname = current_database()"
PARAMS = {"name": "team/app", "tag": "v1"}


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("SELECT 1", ("SELECT 1", ())),
        ("SELECT %(a)s", ("SELECT $1", ("a",))),
        ("x = %(name)s AND y = %(tag)s OR z = %(name)s", ("x = $1 AND y = $2 OR z = $1", ("name", "tag"))),
        ("a LIKE 'p%%' AND b = %(b)s", ("a LIKE 'p%%' AND b = $1", ("b",))),
    ],
)
def test_numbered_placeholders(sql: str, expected: tuple[str, tuple[str, ...]]) -> None:
    assert numbered(sql) == expected


@pytest.fixture
def store(postgres_cluster: PostgresCluster) -> Iterator[PgMetaStore]:
    url = postgres_cluster.fresh_database()
    meta = PgMetaStore(url)

    def fill(tx: PgWriter) -> None:
        tx.ensure_repository("team/app")
        tx.put_manifest("team/app", DIGEST, b"{}", ROW)
        tx.set_tag("team/app", "v1", DIGEST, 2.0)

    meta.write(fill)
    yield meta
    meta.close()
    postgres_cluster.drop_database(url)


def _pids(url: str) -> list[int]:
    with psycopg.connect(url, autocommit=True) as conn:
        return [pid for (pid,) in conn.execute(LOOKUPS).fetchall()]


def _digest(row: tuple[object, ...] | None) -> object:
    return None if row is None else row[4]


def test_lookups_run_on_the_loops_connections_and_reuse_them(store: PgMetaStore) -> None:
    async def main() -> None:
        for _ in range(20):
            assert (await store.afind_manifest("team/app", tag="v1")).digest == DIGEST
            assert (await store.afind_blob("team/app", DIGEST)).manifest == b"{}"

    trio.run(main)
    assert store.loop_reads.fallbacks == 0
    assert len(_pids(store.url)) == 1  # one lookup at a time: one connection, kept


def test_more_lookups_at_once_than_connections_wait_for_one(store: PgMetaStore) -> None:
    reads = LoopReads(store.db, (BY_TAG,), size=2)
    answers: list[object] = []

    async def lookup() -> None:
        answers.append(_digest(await reads.query(BY_TAG, PARAMS)))

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            for _ in range(12):
                nursery.start_soon(lookup)

    try:
        trio.run(main)
        assert answers == [DIGEST] * 12
        assert reads.fallbacks == 0
        assert len(_pids(store.url)) == 2
    finally:
        reads.close()
    wait_until(lambda: _pids(store.url) == [], "the loop's connections closed")


def test_a_connection_the_server_closed_costs_no_lookup_an_error(store: PgMetaStore, postgres_cluster: PostgresCluster) -> None:
    async def look() -> str | None:
        return (await store.afind_manifest("team/app", tag="v1")).digest

    assert trio.run(look) == DIGEST
    (pid,) = _pids(store.url)
    postgres_cluster.admin(f"SELECT pg_terminate_backend({pid})")
    wait_until(lambda: _pids(store.url) == [], "the connection terminated")
    assert trio.run(look) == DIGEST  # found out on use, answered through the pool
    assert store.loop_reads.fallbacks == 1
    assert trio.run(look) == DIGEST  # and a new connection of the loop's made for the next one
    assert store.loop_reads.fallbacks == 1
    assert len(_pids(store.url)) == 1


def test_a_lookup_cancelled_while_it_waits_drops_its_connection(store: PgMetaStore) -> None:
    waiting = "SELECT count(*) FROM pg_locks WHERE relation = 'tags'::regclass AND NOT granted"

    async def main() -> None:
        with psycopg.connect(store.url) as holder, psycopg.connect(store.url, autocommit=True) as watcher:
            holder.execute("LOCK TABLE tags IN ACCESS EXCLUSIVE MODE")
            with trio.move_on_after(30) as scope:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(partial(store.afind_manifest, "team/app", tag="v1"))
                    for _ in range(300):  # the lookup waits on the lock, without holding up the loop
                        await trio.sleep(0.05)
                        if watcher.execute(waiting).fetchone() == (1,):
                            break
                    nursery.cancel_scope.cancel()
            assert not scope.cancelled_caught
            holder.rollback()

    trio.run(main)
    wait_until(lambda: _pids(store.url) == [], "the cancelled lookup's connection closed")
    assert trio.run(partial(store.afind_manifest, "team/app", tag="v1")).digest == DIGEST
    assert store.loop_reads.fallbacks == 0


def test_after_close_lookups_go_through_the_pool(store: PgMetaStore) -> None:
    reads = LoopReads(store.db, (BY_TAG,))
    assert _digest(trio.run(reads.query, BY_TAG, PARAMS)) == DIGEST
    reads.close()
    wait_until(lambda: _pids(store.url) == [], "the idle connection closed")
    assert _digest(trio.run(reads.query, BY_TAG, PARAMS)) == DIGEST
    assert reads.fallbacks == 1
    assert _pids(store.url) == []


class _Refused:
    """`store.db`'s pool, with a URL whose port nobody listens on for the loop's own connections."""

    def __init__(self, store: PgMetaStore) -> None:
        self.size = store.db.size
        self.url = re.sub(r":\d+/", f":{_closed_port()}/", store.url)
        self.query = store.db.query


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_refused_connection_sends_lookups_through_the_pool_for_a_while(store: PgMetaStore) -> None:
    reads = LoopReads(_Refused(store), (BY_TAG,))  # type: ignore[arg-type]
    attempts = []
    connect = reads._connect

    def counted() -> object:
        attempts.append(1)
        return connect()

    reads._connect = counted  # type: ignore[method-assign]
    assert [_digest(trio.run(reads.query, BY_TAG, PARAMS)) for _ in range(3)] == [DIGEST] * 3
    assert (reads.fallbacks, len(attempts)) == (3, 1)  # tried once, then left alone for a second
    reads.close()

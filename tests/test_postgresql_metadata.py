"""Metadata in PostgreSQL beyond the conformance suite: the schema and its migrations, retries of
units of work that lost a race, and the command line (`db migrate`, admin commands, `serve`)."""

from __future__ import annotations

import json
import subprocess
import threading
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import psycopg
import pytest
import trio
from tinyreg.config import ConfigError, load_settings
from tinyreg.registry.transfer import transfer
from tinyreg.storage.interfaces import MetaWriter
from tinyreg.storage.opening import open_blobs, open_meta
from tinyreg.storage.pg import connection
from tinyreg.storage.pg.connection import MetaUnavailable
from tinyreg.storage.pg.migrations import CREATE_TABLE, available
from tinyreg.storage.pg.store import PgMetaStore
from tinyreg.storage.pg.tx import PAGE, TransactionOver
from tinyreg.testing import run_registry

from tests.helpers import api_client
from tests.manifest_builders import push_image
from tests.processes import ServerProcess, clean_env, free_port, tinyreg_command
from tests.servers.postgres import PostgresCluster
from tests.test_migrate import add_hook_and_pending_events, everything, populate


@pytest.fixture
def empty_database(postgres_cluster: PostgresCluster) -> Iterator[str]:
    """A new database without any schema."""
    url = postgres_cluster.fresh_database(migrated=False)
    yield url
    postgres_cluster.drop_database(url)


#: The schema versions this tinyreg ships, in order.
VERSIONS = [migration.version for migration in available()]


def run_tinyreg(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(tinyreg_command(*args), cwd=cwd, env=clean_env(), capture_output=True, text=True, timeout=120)


def test_db_migrate_applies_each_migration_once_and_a_newer_schema_is_refused(empty_database: str, tmp_path: Path) -> None:
    first = run_tinyreg("db", "migrate", "--metadata", empty_database, "--json", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout) == {"applied": VERSIONS, "version": VERSIONS[-1]}
    again = run_tinyreg("db", "migrate", "--metadata", empty_database, cwd=tmp_path)
    assert (again.returncode, again.stdout.strip()) == (0, f"the schema is up to date; schema version {VERSIONS[-1]}")

    with psycopg.connect(empty_database, autocommit=True) as conn:
        conn.execute("INSERT INTO schema_migrations VALUES (999, 'from_the_future', 0)")
    newer = run_tinyreg("db", "migrate", "--metadata", empty_database, cwd=tmp_path)
    assert newer.returncode == 1 and "[999]" in newer.stderr and "newer tinyreg" in newer.stderr
    refused = ServerProcess(
        ["serve", "--port", "0", "--data", str(tmp_path / "data"), "--metadata", empty_database], cwd=tmp_path
    )
    assert refused.wait_exit(60) == 1
    assert "cannot serve: cannot open the metadata database: the database has schema migrations [999]" in refused.text("stderr")


def test_processes_opening_a_new_database_at_once_apply_each_migration_once(empty_database: str, tmp_path: Path) -> None:
    openers = [subprocess.Popen(tinyreg_command("db", "migrate", "--metadata", empty_database, "--json"), cwd=tmp_path,
                                env=clean_env(), stdout=subprocess.PIPE, text=True) for _ in range(4)]  # fmt: skip
    applied = [json.loads(opener.communicate(timeout=120)[0])["applied"] for opener in openers]
    assert sorted(applied) == [[], [], [], VERSIONS] and all(opener.returncode == 0 for opener in openers)
    with psycopg.connect(empty_database) as conn:
        assert conn.execute("SELECT version FROM schema_migrations ORDER BY version").fetchall() == [(v,) for v in VERSIONS]


def test_a_database_of_the_first_schema_is_migrated_with_its_rows(empty_database: str) -> None:
    """Opening a database left at version 1 applies the later migrations and keeps what it holds;
    a repository then moves and takes a copied id with its tags."""
    first = available()[0]
    with psycopg.connect(empty_database, autocommit=True) as conn:
        conn.execute(first.sql.encode())
        conn.execute(CREATE_TABLE)
        conn.execute("INSERT INTO schema_migrations VALUES (1, %s, 0)", (first.name,))
        conn.execute("INSERT INTO repositories (id, name, created) VALUES (5, 'team/app', 1.0)")
        conn.execute("INSERT INTO tags (repository_id, name, digest) VALUES (5, 'v1', 'sha256:' || repeat('1', 64))")
    meta = PgMetaStore(empty_database)
    try:
        assert meta.migrated == VERSIONS[1:]
        assert meta.write(lambda tx: tx.move_repository("team/app", "team/web")) is True
        meta.write(lambda tx: tx.put_repository("team/web", {"id": 9, "created": 1.0, "updated": 2.0}))
        with meta.read() as tx:
            assert tx.repository_by_id(9) == ("team/web", {"id": 9, "created": 1.0, "updated": 2.0})
            assert [name for name, _ in tx.iter_tags("team/web")] == ["v1"] and tx.repository_by_id(5) is None
    finally:
        meta.close()


def test_db_stats_lists_the_tables_and_compaction_is_left_to_postgresql(empty_database: str, tmp_path: Path) -> None:
    PgMetaStore(empty_database).close()
    stats = run_tinyreg("db", "stats", "--metadata", empty_database, "--json", cwd=tmp_path)
    assert stats.returncode == 0, stats.stderr
    tables = json.loads(stats.stdout)["tables"]
    assert {"repositories", "manifests", "tags", "schema_migrations"} <= set(tables)
    compact = run_tinyreg("db", "compact", "--metadata", empty_database, cwd=tmp_path)
    assert compact.returncode == 2 and "autovacuum" in compact.stderr


def test_every_table_has_a_primary_key_and_a_repositorys_rows_reference_it(empty_database: str) -> None:
    PgMetaStore(empty_database).close()
    with psycopg.connect(empty_database) as conn:
        constraints = conn.execute(
            "SELECT t.table_name, c.constraint_type FROM information_schema.tables t "
            "LEFT JOIN information_schema.table_constraints c ON c.table_name = t.table_name AND c.table_schema = t.table_schema "
            "WHERE t.table_schema = current_schema()"
        ).fetchall()
    kinds: dict[str, set[str | None]] = {}
    for table, kind in constraints:
        kinds.setdefault(table, set()).add(kind)
    assert all("PRIMARY KEY" in found for found in kinds.values()), kinds
    # A repository's rows reference it; a queue's events reference their queue.
    assert {table for table, found in kinds.items() if "FOREIGN KEY" in found} == {"manifests", "tags", "links", "events"}


def test_a_unit_of_work_that_lost_a_race_runs_again_and_loses_nothing(postgres_cluster: PostgresCluster) -> None:
    url = postgres_cluster.fresh_database()
    store, other = PgMetaStore(url), PgMetaStore(url)
    read, written = threading.Event(), threading.Event()
    attempts = []

    def slow(tx: MetaWriter) -> int:
        attempts.append(tx.counter("n"))  # the first attempt reads 0 ...
        if len(attempts) == 1:
            read.set()
            assert written.wait(30)  # ... and the other unit of work commits meanwhile
        return tx.next_counter("n")

    def fast() -> None:
        assert read.wait(30)
        other.write(lambda tx: tx.next_counter("n"))
        written.set()

    racer = threading.Thread(target=fast)
    racer.start()
    try:
        assert store.write(slow) == 2
    finally:
        racer.join(30)
        store.close()
        other.close()
        postgres_cluster.drop_database(url)
    assert attempts == [0, 1] and store.db.retries == 1


def test_connections_the_server_closed_are_replaced_without_an_error(postgres_cluster: PostgresCluster) -> None:
    url = postgres_cluster.fresh_database()
    store = PgMetaStore(url)
    digest = "sha256:" + "1" * 64
    try:
        with store.read() as outer, store.read() as inner:  # two connections in the pool
            assert outer.tag("r", "v1") is None and inner.tag("r", "v1") is None
        assert postgres_cluster.terminate_connections(url) >= 2

        store.write(lambda tx: tx.set_tag("r", "v1", digest, 1.0))
        assert postgres_cluster.terminate_connections(url) >= 1
        with store.read() as tx:
            assert tx.tag("r", "v1") == (digest, 1.0)
    finally:
        store.close()
        postgres_cluster.drop_database(url)


def test_a_database_that_refuses_connections_is_named_without_the_password(
    postgres_cluster: PostgresCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = postgres_cluster.fresh_database()
    store = PgMetaStore(url)
    database = url.rsplit("/", 1)[1]
    monkeypatch.setattr(connection, "CHECKOUT_TIMEOUT", 1.0)
    try:
        postgres_cluster.admin(f"ALTER DATABASE {database} ALLOW_CONNECTIONS false")
        postgres_cluster.terminate_connections(url)
        with pytest.raises(MetaUnavailable) as refused:
            store.write(lambda tx: tx.next_counter("n"))
        assert "postgresql://tinyreg:***@127.0.0.1" in str(refused.value) and postgres_cluster.password not in str(refused.value)
    finally:
        store.close()
        postgres_cluster.admin(f"ALTER DATABASE {database} ALLOW_CONNECTIONS true")
        postgres_cluster.drop_database(url)


def test_whole_table_iterations_page_through_more_rows_than_one_fetch_in_key_order(postgres_cluster: PostgresCluster) -> None:
    url = postgres_cluster.fresh_database()
    store = PgMetaStore(url)
    count = 2 * PAGE + 7
    digests = [f"sha256:{i:064x}" for i in range(count)]

    def fill(tx: MetaWriter) -> None:
        for i, digest in enumerate(digests):
            tx.set_tag("r", f"t{i}", digest, float(i))
            tx.put_link("ab"[i % 2], digest, {"size": i})  # a key of two columns, repository then digest

    try:
        store.write(fill)
        with store.read() as tx:
            tags = list(tx.iter_tags("r"))
            links = [(repo, digest) for repo, digest, _ in tx.iter_links()]
        assert [name for name, _ in tags] == sorted((f"t{i}" for i in range(count)), key=str.encode)
        assert links == [("a", d) for d in digests[0::2]] + [("b", d) for d in digests[1::2]]
    finally:
        store.close()
        postgres_cluster.drop_database(url)


def test_a_snapshot_used_after_its_block_refuses_instead_of_reading_another_transaction(
    postgres_cluster: PostgresCluster,
) -> None:
    url = postgres_cluster.fresh_database()
    store = PgMetaStore(url)
    try:
        store.write(lambda tx: tx.ensure_repository("r"))
        with store.read() as tx:
            later = tx.iter_repositories()  # not consumed inside the block
        with store.read() as other:  # the connection is someone else's now
            assert other.has_repository("r")
            with pytest.raises(TransactionOver):
                list(later)
    finally:
        store.close()
        postgres_cluster.drop_database(url)


def test_admin_commands_keep_their_rows_in_postgresql(empty_database: str, tmp_path: Path) -> None:
    common = ("--metadata", empty_database, "--data", str(tmp_path / "data"))
    added = run_tinyreg("user", "add", "alice", "--no-password", "--admin", *common, "--init", cwd=tmp_path)
    assert added.returncode == 0, added.stderr
    created = run_tinyreg("project", "create", "team/app", "--owner", "alice", *common, cwd=tmp_path)
    assert created.returncode == 0, created.stderr
    listed = run_tinyreg("user", "list", "--json", *common, cwd=tmp_path)
    assert [(user["name"], user["admin"]) for user in json.loads(listed.stdout)] == [("alice", True)]
    assert not (tmp_path / "data" / "meta").exists()
    with psycopg.connect(empty_database) as conn:
        assert conn.execute("SELECT path FROM projects").fetchall() == [("team/app",)]
        assert conn.execute("SELECT group_path FROM group_members").fetchall() == []


def test_two_workers_serve_one_registry_from_postgresql(empty_database: str, tmp_path: Path) -> None:
    args = ["serve", "--port", "0", "--workers", "2", "--data", str(tmp_path / "data"), "--metadata", empty_database]
    server = ServerProcess(args, cwd=tmp_path)
    try:
        url = server.wait_listening(timeout=60)
        with api_client(url) as client:
            pushed = [push_image(client, f"team/app{i}", "v1", seed=f"image{i}") for i in range(6)]  # spread over both
            for i, image in enumerate(pushed):
                response = client.get(f"/v2/team/app{i}/manifests/v1", headers={"Accept": image.media_type})
                assert (response.status_code, response.content) == (200, image.body)
            assert client.get("/v2/_catalog").json()["repositories"] == [f"team/app{i}" for i in range(6)]
    finally:
        assert server.stop() == 0, server.text("stderr")


def test_serve_names_an_unreachable_metadata_database_without_its_password(tmp_path: Path) -> None:
    url = f"postgresql://tinyreg:very-secret@127.0.0.1:{free_port()}/nowhere"
    server = ServerProcess(["serve", "--port", "0", "--data", str(tmp_path / "data"), "--metadata", url], cwd=tmp_path)
    assert server.wait_exit(60) == 1
    stderr = server.text("stderr")
    assert "cannot open the metadata database: cannot connect to postgresql://tinyreg:***@127.0.0.1" in stderr
    assert "very-secret" not in stderr + server.text("stdout")


@pytest.mark.parametrize(
    ("value", "accepted"),
    [("postgresql://u@h:5432/db", True), ("postgres://h/db", True), ("", True), ("mysql://h/db", False), ("meta.mdb", False)],
)
def test_the_metadata_setting_takes_a_postgresql_url_or_nothing(value: str, accepted: bool) -> None:
    if accepted:
        assert load_settings(env={"TINYREG_METADATA": value}).metadata == value
    else:
        with pytest.raises(ConfigError, match="TINYREG_METADATA"):
            load_settings(env={"TINYREG_METADATA": value})


def test_a_registry_copied_into_postgresql_is_the_same_registry(postgres_cluster: PostgresCluster, tmp_path: Path) -> None:
    """Every row a reader lists (repositories with their ids, counters, hooks, pending events, the
    cache's rows, aliases) comes out of PostgreSQL as it was written on LMDB."""
    source, target = tmp_path / "source", tmp_path / "target"
    with run_registry(source, auth=True) as registry:
        populate(registry)
    add_hook_and_pending_events(source)
    url = postgres_cluster.fresh_database()
    lmdb, pg = open_meta(source), open_meta(target, url)
    try:
        trio.run(partial(transfer, lmdb, open_blobs(source), pg, open_blobs(target)))
        assert everything(pg) == everything(lmdb)
    finally:
        lmdb.close()
        pg.close()
        postgres_cluster.drop_database(url)

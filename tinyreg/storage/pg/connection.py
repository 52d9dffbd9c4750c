"""Connections to PostgreSQL: a pool, snapshots, and units of work retried on serialization failures.

Connections are in autocommit mode and every transaction is begun explicitly:

* a snapshot is `BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY` followed at once by a first
  statement, because PostgreSQL takes the snapshot at a transaction's first statement, not at its
  BEGIN: a write made after `meta.read()` returned must not be seen by it (as on LMDB);
* a unit of work is SERIALIZABLE: `change(tx)` reads and decides (a tag moved, a counter taken,
  usage counted) and PostgreSQL guarantees the outcome of some serial order, or fails one of
  the transactions with a serialization failure, which is retried from the start a bounded
  number of times (the interface allows it: `change` only touches its `tx`).
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import psycopg
import psycopg.errors
from psycopg.pq import TransactionStatus
from psycopg_pool import ConnectionPool, PoolTimeout

from tinyreg.storage.pg.urls import redact

T = TypeVar("T")
log = logging.getLogger("tinyreg.storage.pg")

#: Errors after which a unit of work is run again from the start.
RETRYABLE = (psycopg.errors.SerializationFailure, psycopg.errors.DeadlockDetected)
MAX_ATTEMPTS = 50
MAX_RETRY_SECONDS = 20.0
POOL_SIZE = 10
CONNECT_TIMEOUT = 10  # seconds to reach the server at open
CHECKOUT_TIMEOUT = 30.0  # seconds to wait for a free connection of the pool

SNAPSHOT_BEGIN = "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY; SELECT 1"
WRITE_BEGIN = "BEGIN ISOLATION LEVEL SERIALIZABLE"

Connection = psycopg.Connection[tuple[object, ...]]


class MetaUnavailable(OSError):
    """The metadata database cannot be reached or used; the message names it (without password)."""


def describe(exc: BaseException) -> str:
    """The last line of a psycopg error (the server's reason), or its type."""
    text = str(exc).strip()
    return text.splitlines()[-1] if text else type(exc).__name__


def connect(url: str) -> Connection:
    """One connection outside the pool (migrations, administration); MetaUnavailable with the reason."""
    try:
        return psycopg.connect(url, autocommit=True, connect_timeout=CONNECT_TIMEOUT)
    except psycopg.Error as exc:
        raise MetaUnavailable(f"cannot connect to {redact(url)}: {describe(exc)}") from None


def rollback(conn: Connection) -> None:
    """End whatever transaction `conn` is in (a broken connection is left for the pool to drop)."""
    if conn.closed or conn.info.transaction_status == TransactionStatus.IDLE:
        return
    try:
        conn.execute("ROLLBACK", prepare=False)
    except psycopg.Error:
        conn.close()


def end_snapshot(conn: Connection) -> None:
    """End a read-only transaction with COMMIT: the same as a rollback for the server, but psycopg
    forgets its prepared statements on every ROLLBACK, and the hot reads should stay prepared."""
    if not conn.closed and conn.info.transaction_status == TransactionStatus.INTRANS:
        try:
            conn.execute("COMMIT", prepare=False)
        except psycopg.Error:
            conn.close()
    else:
        rollback(conn)


class Database:
    """A pool of connections to one database, handing out snapshots and running units of work."""

    def __init__(self, url: str, *, size: int = POOL_SIZE) -> None:
        self.url = url
        self.pool = ConnectionPool(
            url,
            min_size=1,
            max_size=size,
            kwargs={"autocommit": True, "connect_timeout": CONNECT_TIMEOUT},
            open=False,
            name="tinyreg-metadata",
        )
        self.pool.open(wait=False)
        self.size = size
        self.retries = 0  # units of work run again after a serialization failure (for measurements)

    def close(self) -> None:
        self.pool.close()

    def _checkout(self, first: Callable[[Connection], T]) -> tuple[Connection, T]:
        """A connection of the pool on which `first(conn)` (its first statement) went through, and what it returned.

        A connection the server closed (a restart, a failover, an administrator) is found out
        here, before anything of the caller's was done on it: it is dropped and another taken,
        at most once per connection the pool may hold, so a restart costs no request an error.
        """
        for _ in range(self.size + 1):
            try:
                conn = self.pool.getconn(timeout=CHECKOUT_TIMEOUT)
            except PoolTimeout:
                raise MetaUnavailable(f"no connection to {redact(self.url)} within {CHECKOUT_TIMEOUT:.0f} s") from None
            try:
                return conn, first(conn)
            except psycopg.OperationalError as exc:
                conn.close()  # the pool replaces a closed connection
                self.pool.putconn(conn)
                failure = exc
            except BaseException:
                self.pool.putconn(conn)
                raise
        raise MetaUnavailable(f"lost the connection to {redact(self.url)}: {describe(failure)}") from failure

    def _begin(self, sql: str) -> Connection:
        """A connection of the pool in a transaction begun by `sql`."""
        return self._checkout(lambda conn: conn.execute(sql, prepare=False))[0]

    def query(self, sql: str, params: Mapping[str, object]) -> tuple[Any, ...] | None:
        """The first row of one read-only statement run outside any transaction: a statement is its
        own snapshot, so a read that fits in one needs neither BEGIN nor COMMIT (one round trip,
        not three). Prepared at once: it is meant for the hot reads. Run again on another
        connection if the first one was found closed (a read, so nothing is done twice)."""
        conn, row = self._checkout(lambda conn: conn.execute(sql, params, prepare=True, binary=True).fetchone())
        self.pool.putconn(conn)
        return row

    def begin_snapshot(self) -> Connection:
        """A connection in a read-only REPEATABLE READ transaction whose snapshot is taken now."""
        return self._begin(SNAPSHOT_BEGIN)

    def end(self, conn: Connection) -> None:
        """End the snapshot of `conn` and give it back."""
        try:
            end_snapshot(conn)
        finally:
            self.pool.putconn(conn)

    def run(self, change: Callable[[Connection], T]) -> T:
        """`change(conn)` in one SERIALIZABLE transaction, committed; run again from the start after a
        serialization failure or deadlock, at most MAX_ATTEMPTS times within MAX_RETRY_SECONDS."""
        deadline = time.monotonic() + MAX_RETRY_SECONDS
        attempt = 0
        while True:
            attempt += 1
            conn = self._begin(WRITE_BEGIN)
            try:
                result = change(conn)
                if conn.info.transaction_status != TransactionStatus.INTRANS:
                    # COMMIT of a failed transaction would quietly roll back: never report that as done.
                    raise psycopg.errors.InFailedSqlTransaction("the unit of work hit an error it did not raise")
                conn.execute("COMMIT", prepare=False)
                return result
            except RETRYABLE as exc:
                rollback(conn)
                if attempt >= MAX_ATTEMPTS or time.monotonic() > deadline:
                    log.warning("unit of work given up after %d attempts: %s", attempt, exc)
                    raise
                self.retries += 1
            except BaseException:
                rollback(conn)
                raise
            finally:
                self.pool.putconn(conn)
            # Back off a little, growing, with jitter, so that the transactions that collided drift apart.
            time.sleep(min(0.05, 0.0005 * 2 ** min(attempt, 10)) * random.uniform(0.5, 1.5))

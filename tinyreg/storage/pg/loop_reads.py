"""The hottest reads (a manifest's or a blob's lookup) sent from the event loop itself, not from a
worker thread: libpq's non-blocking mode, its socket waited on with trio.

A hop to a worker thread and back costs more than the statement's round trip to the database
(on one core, ~120 µs against ~100 µs), and a manifest GET is little more than that. So a
few connections of their own (`LOOP_CONNECTIONS`, beside the pool's) each prepare a statement at
its first use, and a lookup then sends one `Bind/Execute`, waits for the socket to be readable, and
loads the row with psycopg's own loaders (the same Python values as through a cursor).

More lookups at once than connections wait for one: a lookup holds it for a round trip, and
even so the wait costs the loop less than the hop to a thread. Anything out of the ordinary
goes the usual way, through the pool in a worker thread, which knows how to reconnect and to
report an unreachable database: a connection lost or refused (for a second after a refusal,
every lookup), an error from the server (its connection is closed, as is one whose lookup was
cancelled half way: what it has in flight is unknown). The lookups are reads, so running one
again that way does nothing twice.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Mapping
from typing import Any

import psycopg
import trio
from psycopg import pq
from psycopg.adapt import Transformer
from psycopg.conninfo import conninfo_to_dict

from tinyreg.storage.pg.connection import CONNECT_TIMEOUT, Connection, Database

#: Connections of a node's event loop, besides the pool's (`POOL_SIZE`). Beyond this many lookups
#: at once the others wait for one.
LOOP_CONNECTIONS = 6
#: How they show in `pg_stat_activity` (the pool's carry the URL's, if any).
APPLICATION_NAME = "tinyreg lookups"
RECONNECT_PAUSE = 1.0  # seconds during which lookups use the pool after a connection was refused

Row = tuple[Any, ...]
_PLACEHOLDER = re.compile(r"%\((\w+)\)s")


def numbered(sql: str) -> tuple[str, tuple[str, ...]]:
    """`sql` with psycopg's named placeholders (`%(name)s`) turned into PostgreSQL's own (`$1`),
    and the names in the order of their numbers (a name used twice keeps its number)."""
    names: list[str] = []

    def number(match: re.Match[str]) -> str:
        if match.group(1) not in names:
            names.append(match.group(1))
        return f"${names.index(match.group(1)) + 1}"

    return _PLACEHOLDER.sub(number, sql), tuple(names)


class _Statement:
    __slots__ = ("name", "numbered", "params")

    def __init__(self, index: int, sql: str) -> None:
        self.name = f"tinyreg_loop_{index}".encode()
        self.numbered, self.params = numbered(sql)


class _Link:
    """One connection of the loop's, with its statements prepared and its loaders."""

    __slots__ = ("conn", "pgconn", "loaders", "encoding", "prepared")

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.pgconn = conn.pgconn
        self.loaders = Transformer(conn)
        self.encoding = conn.info.encoding
        self.prepared: set[bytes] = set()


class _Loop:
    """The links of the event loop of one thread, and its turns at them."""

    __slots__ = ("idle", "turns")

    def __init__(self, size: int) -> None:
        self.idle: list[_Link] = []
        self.turns = trio.Semaphore(size)  # made in the loop: trio's objects are for one loop


class LoopReads:
    """Lookups of `db` run from the event loop on up to `size` connections of their own (per
    thread running a loop: a server has one); a lookup that cannot be (see the module) runs on
    the pool in a worker thread instead."""

    def __init__(self, db: Database, statements: tuple[str, ...], *, size: int = LOOP_CONNECTIONS) -> None:
        self.db = db
        self.size = size
        self._statements = {sql: _Statement(i, sql) for i, sql in enumerate(statements)}
        self._local = threading.local()
        self._loops: list[_Loop] = []  # every thread's, for close()
        self._lock = threading.Lock()
        self._closed = False
        self._connect_after = 0.0  # after a failed connect, the pool's path for a while
        self.fallbacks = 0  # lookups that went through the pool (for tests and measurements)
        self._limiter: trio.CapacityLimiter | None = None  # threads for those: no more than the pool's connections

    async def query(self, sql: str, params: Mapping[str, object]) -> Row | None:
        """The first row of `sql` (one of the statements given at construction) with `params`."""
        statement = self._statements[sql]
        loop = self._loop()
        # More lookups at once than links wait for one: cheaper than a thread. A free turn is
        # taken without the scheduling round of `acquire()` (the lookup's wait is a checkpoint).
        try:
            loop.turns.acquire_nowait()
        except trio.WouldBlock:
            await loop.turns.acquire()
        try:
            link = await self._link(loop)
            if link is not None:
                try:
                    row = await _run(link, statement, params)
                except psycopg.Error:
                    link.conn.close()  # told apart and reported by the pool's path, below
                except BaseException:
                    link.conn.close()
                    raise
                else:
                    if self._closed:
                        link.conn.close()
                    else:
                        loop.idle.append(link)
                    return row
        finally:
            loop.turns.release()
        self.fallbacks += 1
        if self._limiter is None:
            self._limiter = trio.CapacityLimiter(self.db.size)
        return await trio.to_thread.run_sync(self.db.query, sql, params, limiter=self._limiter)

    def close(self) -> None:
        """Close the idle connections; those in use are closed when their lookup ends."""
        with self._lock:
            self._closed = True
            loops = list(self._loops)
        for loop in loops:
            idle, loop.idle = loop.idle, []
            for link in idle:
                link.conn.close()

    def _loop(self) -> _Loop:
        loop: _Loop | None = getattr(self._local, "loop", None)
        if loop is None:
            loop = self._local.loop = _Loop(self.size)
            with self._lock:
                self._loops.append(loop)
        return loop

    async def _link(self, loop: _Loop) -> _Link | None:
        """An idle link of `loop`, or a new one; None if there is to be none (closed, or the
        database refused the last connection a moment ago)."""
        if loop.idle:
            return loop.idle.pop()
        if self._closed or time.monotonic() < self._connect_after:
            return None
        try:
            return await trio.to_thread.run_sync(self._connect)
        except psycopg.Error:
            self._connect_after = time.monotonic() + RECONNECT_PAUSE
            return None

    def _connect(self) -> _Link:
        """A new connection (in a worker thread: connecting blocks)."""
        # Each lookup is an equality on keys: the generic plan, made once, is the one a custom
        # plan would find, without planning five joins again at every execution. Set at
        # connection start-up (beside any options of the URL's), not by a statement of its own.
        options = f"{conninfo_to_dict(self.db.url).get('options') or ''} -c plan_cache_mode=force_generic_plan"
        conn = psycopg.connect(
            self.db.url,
            autocommit=True,
            connect_timeout=CONNECT_TIMEOUT,
            application_name=APPLICATION_NAME,
            options=options.strip(),
        )
        conn.pgconn.nonblocking = 1
        return _Link(conn)


async def _run(link: _Link, statement: _Statement, params: Mapping[str, object]) -> Row | None:
    pgconn = link.pgconn
    if statement.name not in link.prepared:
        # Prepared at its first use on the link, not when the link is made: preparing reads the
        # tables the statement names, which waits for a lock held on any of them.
        pgconn.send_prepare(statement.name, statement.numbered.encode())
        await _result(pgconn, pq.ExecStatus.COMMAND_OK)
        link.prepared.add(statement.name)
    values = [str(params[name]).encode(link.encoding) for name in statement.params]
    pgconn.send_query_prepared(statement.name, values, result_format=pq.Format.BINARY)
    result = await _result(pgconn, pq.ExecStatus.TUPLES_OK)
    if result.ntuples == 0:
        return None
    link.loaders.set_pgresult(result)
    return link.loaders.load_row(0, tuple)


async def _result(pgconn: pq.abc.PGconn, expected: pq.ExecStatus) -> pq.abc.PGresult:
    """The one result of what was just sent, once the server is ready for more; OperationalError
    with the server's message if it is not `expected`."""
    while pgconn.flush():
        await trio.lowlevel.wait_writable(pgconn.socket)
    results = []
    while True:
        pgconn.consume_input()
        if pgconn.is_busy():
            await trio.lowlevel.wait_readable(pgconn.socket)
            continue
        result = pgconn.get_result()
        if result is None:
            break
        results.append(result)
    if len(results) != 1 or results[0].status != expected:
        raise psycopg.OperationalError(_message(results[-1]) if results else "no result")
    return results[0]


def _message(result: pq.abc.PGresult) -> str:
    return (result.error_message or b"").decode("utf-8", "replace").strip() or str(result.status)

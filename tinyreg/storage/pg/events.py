"""Event notification rows on PostgreSQL: one queue per delivery target, and projects' webhooks.

`event_queues` holds each queue's next sequence number and counts, `events` the events not yet
delivered (JSON bytes, exactly as delivered) by (queue, sequence number), `project_hooks` the
hooks by (project path, id). A full queue refuses the new event (counted in `dropped`): what is
queued stays as it was, and a delivery in flight never finds its batch cut from under it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from psycopg.types.json import Json

from tinyreg.storage.interfaces import EventQueueState
from tinyreg.storage.pg.tx import PgTx, Row

STATE_COLUMNS = "next_seq, pending, queued, delivered, failed, dropped"


def _state(row: Row) -> EventQueueState:
    """An EventQueueState from STATE_COLUMNS."""
    next_seq, pending, queued, delivered, failed, dropped = row
    return {"next": next_seq, "pending": pending, "queued": queued, "delivered": delivered, "failed": failed, "dropped": dropped}


class EventsReader(PgTx):
    __slots__ = ()

    def event_state(self, queue: str) -> EventQueueState | None:
        row = self._one(f"SELECT {STATE_COLUMNS} FROM event_queues WHERE name = %s", (queue,))
        return None if row is None else _state(row)

    def iter_event_states(self) -> Iterator[tuple[str, EventQueueState]]:
        rows = self._pages(f"SELECT name, {STATE_COLUMNS} FROM event_queues WHERE {{after}}", ("name",))
        return ((row[0], _state(row[1:])) for row in rows)

    def pending_events(self, queue: str, *, limit: int) -> list[tuple[int, bytes]]:
        rows = self._all("SELECT seq, event FROM events WHERE queue = %s ORDER BY seq LIMIT %s", (queue, limit))
        return [(row[0], bytes(row[1])) for row in rows]

    def project_hook(self, path: str, hook_id: int) -> dict[str, Any] | None:
        found = self._value("SELECT attributes FROM project_hooks WHERE project_path = %s AND id = %s", (path, hook_id))
        return None if found is None else dict(found)

    def project_hooks(self, path: str) -> Iterator[tuple[int, dict[str, Any]]]:
        rows = self._all("SELECT id, attributes FROM project_hooks WHERE project_path = %s ORDER BY id", (path,))
        return ((row[0], row[1]) for row in rows)

    def iter_project_hooks(self) -> Iterator[tuple[str, int, dict[str, Any]]]:
        rows = self._pages("SELECT project_path, id, attributes FROM project_hooks WHERE {after}", ("project_path", "id"))
        return ((row[0], row[1], row[2]) for row in rows)


class EventsWriter(EventsReader):
    __slots__ = ()

    def queue_events(self, queue: str, events: Sequence[bytes], *, max_pending: int) -> int:
        if not events:
            return 0
        row = self._one("SELECT next_seq, pending FROM event_queues WHERE name = %s", (queue,))
        if row is None:
            self.conn.execute("INSERT INTO event_queues (name) VALUES (%s)", (queue,))
            row = (1, 0)
        next_seq, pending = row
        taken = events[: max(0, max_pending - pending)]
        if taken:  # one statement for the lot: a flush of pulls may bring hundreds
            self.conn.execute(
                "INSERT INTO events (queue, seq, event) SELECT %s, %s + n - 1, e FROM unnest(%s::bytea[]) WITH ORDINALITY AS t(e, n)",
                (queue, next_seq, list(taken)),
            )
        self.conn.execute(
            "UPDATE event_queues SET next_seq = next_seq + %s, pending = pending + %s, queued = queued + %s, "
            "dropped = dropped + %s WHERE name = %s",
            (len(taken), len(taken), len(taken), len(events) - len(taken), queue),
        )
        return len(taken)

    def ack_events(self, queue: str, through: int) -> int:
        done = self._count("DELETE FROM events WHERE queue = %s AND seq <= %s", (queue, through))
        if done:
            self.conn.execute(
                "UPDATE event_queues SET pending = pending - %s, delivered = delivered + %s WHERE name = %s", (done, done, queue)
            )
        return done

    def count_event_failure(self, queue: str) -> None:
        self.conn.execute(
            "INSERT INTO event_queues (name, failed) VALUES (%s, 1) "
            "ON CONFLICT (name) DO UPDATE SET failed = event_queues.failed + 1",
            (queue,),
        )

    def delete_event_queue(self, queue: str) -> int:
        gone = self._count("DELETE FROM events WHERE queue = %s", (queue,))  # counted here: the cascade would not say
        self.conn.execute("DELETE FROM event_queues WHERE name = %s", (queue,))
        return gone

    def put_project_hook(self, path: str, hook_id: int, row: dict[str, Any]) -> None:
        self.conn.execute(
            "INSERT INTO project_hooks (project_path, id, attributes) VALUES (%s, %s, %s) "
            "ON CONFLICT (project_path, id) DO UPDATE SET attributes = EXCLUDED.attributes",
            (path, hook_id, Json(row)),
        )

    def delete_project_hook(self, path: str, hook_id: int) -> bool:
        return self._count("DELETE FROM project_hooks WHERE project_path = %s AND id = %s", (path, hook_id)) > 0

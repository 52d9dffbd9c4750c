"""Event notification rows on LMDB: one queue per delivery target, and projects' webhooks.

* `event_queue`: `queue\\0seq` (seq: 8 bytes big-endian) → the event's JSON bytes, exactly as
  delivered. Each target (a configured endpoint, a project's hook) has its own queue, so a slow
  one never holds back another; a delivered batch is removed by its last sequence number.
* `event_state`: `queue` → {"next", "pending", "queued", "delivered", "failed", "dropped"}: the
  next sequence number and the counts kept by every write, so neither a bound check nor a
  scrape of the metrics counts rows.
* `project_hooks`: `path\\0id` (id: 8 bytes big-endian) → the hook's row.

A full queue refuses the new event (counted in `dropped`): what is queued stays as it was, and
a delivery in flight never finds its batch cut from under it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, cast

import cbor2

from tinyreg.storage import keys
from tinyreg.storage.interfaces import EventQueueState
from tinyreg.storage.lmdb_tx import LmdbTx

SEP = keys.SEP


def _new_state() -> EventQueueState:
    return {"next": 1, "pending": 0, "queued": 0, "delivered": 0, "failed": 0, "dropped": 0}


def _event_key(queue: str, seq: int) -> bytes:
    return queue.encode() + SEP + seq.to_bytes(8, "big")


def _hook_key(path: str, hook_id: int) -> bytes:
    return path.encode() + SEP + hook_id.to_bytes(8, "big")


class EventsReader(LmdbTx):
    __slots__ = ()

    def event_state(self, queue: str) -> EventQueueState | None:
        return cast("EventQueueState | None", self._get(self.d.event_state, queue.encode()))

    def iter_event_states(self) -> Iterator[tuple[str, EventQueueState]]:
        return ((key.decode(), cbor2.loads(value)) for key, value in self._scan("event_state", b""))

    def pending_events(self, queue: str, *, limit: int) -> list[tuple[int, bytes]]:
        prefix = keys.repo_prefix(queue)
        found: list[tuple[int, bytes]] = []
        for key, value in self._scan("event_queue", prefix):
            if len(found) >= limit:
                break
            found.append((int.from_bytes(key[len(prefix) :], "big"), bytes(value)))
        return found

    def project_hook(self, path: str, hook_id: int) -> dict[str, Any] | None:
        return cast("dict[str, Any] | None", self._get(self.d.project_hooks, _hook_key(path, hook_id)))

    def project_hooks(self, path: str) -> Iterator[tuple[int, dict[str, Any]]]:
        prefix = keys.repo_prefix(path)
        return (
            (int.from_bytes(key[len(prefix) :], "big"), cbor2.loads(value)) for key, value in self._scan("project_hooks", prefix)
        )

    def iter_project_hooks(self) -> Iterator[tuple[str, int, dict[str, Any]]]:
        for key, value in self._scan("project_hooks", b""):
            # The id is the last 8 bytes (which may hold NUL bytes themselves), after the separator.
            yield key[:-9].decode(), int.from_bytes(key[-8:], "big"), cbor2.loads(value)


class EventsWriter(EventsReader):
    __slots__ = ()

    def _put_state(self, queue: str, state: EventQueueState) -> None:
        self.txn.put(queue.encode(), cbor2.dumps(dict(state)), db=self.d.event_state)

    def queue_events(self, queue: str, events: Sequence[bytes], *, max_pending: int) -> int:
        if not events:
            return 0
        state = self.event_state(queue) or _new_state()
        taken = events[: max(0, max_pending - state["pending"])]
        put, db, seq = self.txn.put, self.d.event_queue, state["next"]
        for event in taken:
            put(_event_key(queue, seq), event, db=db)
            seq += 1
        state["next"] = seq
        state["pending"] += len(taken)
        state["queued"] += len(taken)
        state["dropped"] += len(events) - len(taken)
        self._put_state(queue, state)
        return len(taken)

    def ack_events(self, queue: str, through: int) -> int:
        doomed = []
        for key, _ in self._scan("event_queue", keys.repo_prefix(queue)):
            if int.from_bytes(key[-8:], "big") > through:
                break  # keys sort by sequence: the rest came later
            doomed.append(key)
        for key in doomed:
            self.txn.delete(key, db=self.d.event_queue)
        state = self.event_state(queue)
        if state is not None and doomed:
            state["pending"] -= len(doomed)
            state["delivered"] += len(doomed)
            self._put_state(queue, state)
        return len(doomed)

    def count_event_failure(self, queue: str) -> None:
        state = self.event_state(queue) or _new_state()
        state["failed"] += 1
        self._put_state(queue, state)

    def delete_event_queue(self, queue: str) -> int:
        doomed = [key for key, _ in self._scan("event_queue", keys.repo_prefix(queue))]
        for key in doomed:
            self.txn.delete(key, db=self.d.event_queue)
        self.txn.delete(queue.encode(), db=self.d.event_state)
        return len(doomed)

    def put_project_hook(self, path: str, hook_id: int, row: dict[str, Any]) -> None:
        self.txn.put(_hook_key(path, hook_id), cbor2.dumps(row), db=self.d.project_hooks)

    def delete_project_hook(self, path: str, hook_id: int) -> bool:
        return bool(self.txn.delete(_hook_key(path, hook_id), db=self.d.project_hooks))

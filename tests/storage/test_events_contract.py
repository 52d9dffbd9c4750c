"""The metadata store's contract for event notifications: per-target queues and projects' hooks."""

from __future__ import annotations

from tinyreg.storage.interfaces import MetaWriter

from .backends import Backend


def test_events_queue_in_order_per_target_and_survive_a_reopen(backend: Backend) -> None:
    def queue(tx: MetaWriter) -> list[int]:
        return [
            tx.queue_events("a", [b'{"n":1}'], max_pending=10),
            tx.queue_events("b", [b'{"n":1}'], max_pending=10),
            tx.queue_events("a", [b'{"n":2}'], max_pending=10),
            tx.queue_events("b", [], max_pending=10),
        ]

    assert backend.meta.write(queue) == [1, 1, 1, 0]
    with backend.reopen().meta.read() as tx:
        assert tx.pending_events("a", limit=10) == [(1, b'{"n":1}'), (2, b'{"n":2}')]
        assert tx.pending_events("a", limit=1) == [(1, b'{"n":1}')]
        assert tx.pending_events("b", limit=10) == [(1, b'{"n":1}')]
        assert tx.pending_events("c", limit=10) == [] and tx.event_state("c") is None
        state = tx.event_state("a")
        assert state is not None and (state["pending"], state["queued"], state["next"]) == (2, 2, 3)


def test_acknowledged_events_leave_only_their_queue(backend: Backend) -> None:
    def queue(tx: MetaWriter) -> None:
        tx.queue_events("a", [b"%d" % n for n in range(1, 4)], max_pending=10)
        tx.queue_events("b", [b"x"], max_pending=10)

    backend.meta.write(queue)
    assert backend.meta.write(lambda tx: tx.ack_events("a", 2)) == 2
    assert backend.meta.write(lambda tx: tx.ack_events("a", 2)) == 0  # delivered twice: counted once
    with backend.meta.read() as tx:
        assert tx.pending_events("a", limit=10) == [(3, b"3")]
        assert tx.pending_events("b", limit=10) == [(1, b"x")]
        state = tx.event_state("a")
        assert state is not None and (state["pending"], state["delivered"]) == (1, 2)


def test_a_batch_is_queued_in_order_with_consecutive_numbers(backend: Backend) -> None:
    backend.meta.write(lambda tx: tx.queue_events("a", [b"x"], max_pending=1000))
    events = [b'{"n":%d}' % n for n in range(300)]
    assert backend.meta.write(lambda tx: tx.queue_events("a", events, max_pending=1000)) == 300
    with backend.meta.read() as tx:
        assert tx.pending_events("a", limit=1000) == [(1, b"x"), *((n + 2, event) for n, event in enumerate(events))]
        state = tx.event_state("a")
        assert state is not None and (state["next"], state["pending"], state["queued"]) == (302, 301, 301)


def test_a_full_queue_drops_the_new_event_and_counts_it(backend: Backend) -> None:
    results = backend.meta.write(
        lambda tx: [tx.queue_events("a", [b"0"], max_pending=2), tx.queue_events("a", [b"1", b"2", b"3"], max_pending=2)]
    )
    assert results == [1, 1]
    with backend.meta.read() as tx:
        assert [event for _, event in tx.pending_events("a", limit=10)] == [b"0", b"1"]
        state = tx.event_state("a")
        assert state is not None and (state["pending"], state["queued"], state["dropped"]) == (2, 2, 2)
    backend.meta.write(lambda tx: tx.ack_events("a", 1))
    assert backend.meta.write(lambda tx: tx.queue_events("a", [b"4", b"5"], max_pending=2)) == 1  # room again, for one
    with backend.meta.read() as tx:
        assert [event for _, event in tx.pending_events("a", limit=10)] == [b"1", b"4"]
        state = tx.event_state("a")
        assert state is not None and (state["next"], state["dropped"]) == (4, 3)


def test_failures_are_counted_and_a_queue_is_deleted_whole(backend: Backend) -> None:
    backend.meta.write(lambda tx: tx.queue_events("h", [b"e"] * 3, max_pending=5))
    backend.meta.write(lambda tx: tx.count_event_failure("h"))
    with backend.meta.read() as tx:
        assert [(name, state["failed"]) for name, state in tx.iter_event_states()] == [("h", 1)]
    assert backend.meta.write(lambda tx: tx.delete_event_queue("h")) == 3
    with backend.meta.read() as tx:
        assert tx.pending_events("h", limit=10) == [] and list(tx.iter_event_states()) == []


def test_project_hooks_are_stored_listed_and_deleted(backend: Backend) -> None:
    def setup(tx: MetaWriter) -> None:
        tx.put_project_hook("team/app", 2, {"id": 2, "url": "http://b"})
        tx.put_project_hook("team/app", 10, {"id": 10, "url": "http://c"})
        tx.put_project_hook("team", 1, {"id": 1, "url": "http://a"})

    backend.meta.write(setup)
    backend = backend.reopen()
    with backend.meta.read() as tx:
        assert [hook_id for hook_id, _ in tx.project_hooks("team/app")] == [2, 10]
        assert [hook_id for hook_id, _ in tx.project_hooks("team")] == [1]
        assert tx.project_hook("team/app", 10) == {"id": 10, "url": "http://c"} and tx.project_hook("team", 2) is None
        assert sorted((path, hook_id) for path, hook_id, _ in tx.iter_project_hooks()) == [
            ("team", 1),
            ("team/app", 2),
            ("team/app", 10),
        ]
    assert backend.meta.write(lambda tx: tx.delete_project_hook("team/app", 2)) is True
    assert backend.meta.write(lambda tx: tx.delete_project_hook("team/app", 2)) is False
    backend.close()

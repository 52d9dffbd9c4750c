"""The metadata store's contract for the states of staged uploads (what a blob store in S3 keeps
there): rows, compare-and-set by version, and one holder at a time."""

from __future__ import annotations

import threading
import time

import pytest
from tinyreg.storage.interfaces import MetaWriter, StagingStateRow
from tinyreg.storage.staging_states import MetaStagingStates, is_held

from .backends import Backend

UPLOAD = "7" * 32
RACERS = 4


def test_staging_state_rows_are_stored_listed_in_byte_order_and_deleted(backend: Backend) -> None:
    row: StagingStateRow = {
        "state": {"parts": [[1, '"e1"', 5]], "upload": "x"},
        "version": 3,
        "updated": 1.5,
        "holder": None,
        "expires": 0.0,
    }

    def setup(tx: MetaWriter) -> None:
        tx.put_staging_state("b" * 32, row)
        tx.put_staging_state("a" * 32, {**row, "holder": "node-1", "expires": 9.0})

    backend.meta.write(setup)
    with backend.reopen().meta.read() as tx:
        assert tx.staging_state("b" * 32) == row and tx.staging_state("c" * 32) is None
        assert list(tx.iter_staging_states()) == [("a" * 32, {**row, "holder": "node-1", "expires": 9.0}), ("b" * 32, row)]


def test_a_staging_state_is_created_once_saved_over_the_version_it_was_read_as_and_deleted(backend: Backend) -> None:
    states = MetaStagingStates(backend.meta)
    before = time.time()
    states.create(UPLOAD, {"generation": "g1", "parts": []})
    with pytest.raises(FileExistsError):
        states.create(UPLOAD, {"generation": "g2", "parts": []})
    created = states.get(UPLOAD)
    assert created is not None and created["state"] == {"generation": "g1", "parts": []} and created["version"] == 1
    assert created["updated"] >= before and not is_held(created, time.time())

    assert states.save(UPLOAD, {"generation": "g1", "parts": [[1, "e", 5]]}, 1) == 2
    assert states.save(UPLOAD, {"generation": "g1", "parts": []}, 1) is None  # read before the last save: refused
    saved = states.get(UPLOAD)
    assert saved is not None and saved["state"] == {"generation": "g1", "parts": [[1, "e", 5]]} and saved["version"] == 2
    assert [upload_id for upload_id, _ in states.changed()] == [UPLOAD]
    assert states.changed()[0][1] == saved["updated"]

    assert states.delete(UPLOAD) and not states.delete(UPLOAD)
    assert states.get(UPLOAD) is None and states.changed() == []
    assert states.save(UPLOAD, {"generation": "g1"}, 2) is None  # gone: nothing to save over


def test_of_several_saves_over_one_version_at_once_exactly_one_wins(backend: Backend) -> None:
    """What keeps two nodes appending to one upload from writing over each other."""
    states = MetaStagingStates(backend.meta)
    states.create(UPLOAD, {"by": None})
    start = threading.Barrier(RACERS)
    results: dict[int, int | None] = {}

    def race(number: int) -> None:
        start.wait(30)
        results[number] = states.save(UPLOAD, {"by": number}, 1)

    racers = [threading.Thread(target=race, args=(number,)) for number in range(RACERS)]
    for racer in racers:
        racer.start()
    for racer in racers:
        racer.join(60)
    winners = [number for number, version in results.items() if version == 2]
    assert len(results) == RACERS and len(winners) == 1
    assert all(version is None for number, version in results.items() if number != winners[0])
    saved = states.get(UPLOAD)
    assert saved is not None and saved["state"] == {"by": winners[0]} and saved["version"] == 2


def test_an_upload_has_one_holder_taken_over_once_expired_and_renewed_only_by_its_holder(backend: Backend) -> None:
    states = MetaStagingStates(backend.meta)
    states.create(UPLOAD, {})
    assert states.take(UPLOAD, "one", 60)
    held = states.get(UPLOAD)
    assert held is not None and held["holder"] == "one" and is_held(held, time.time())
    assert not states.take(UPLOAD, "two", 60)  # one holder at a time
    assert states.take(UPLOAD, "one", 60) and states.renew(UPLOAD, "one", 60)  # the holder itself may
    assert not states.renew(UPLOAD, "two", 60)
    states.release(UPLOAD, "one")
    released = states.get(UPLOAD)
    assert released is not None and not is_held(released, time.time())
    assert released["version"] == 1  # holding is no save: the state's version stays

    assert states.take(UPLOAD, "dead", -1)  # a holder whose lease ran out (killed, say)
    assert states.take(UPLOAD, "three", 60)
    assert not states.renew(UPLOAD, "dead", 60)  # taken over: the old holder learns it lost the upload
    states.release(UPLOAD, "dead")  # and cannot let go of the new holder's
    assert not states.take(UPLOAD, "four", 60)
    states.release(UPLOAD, "three")
    assert states.take(UPLOAD, "four", 60)

    states.delete(UPLOAD)
    assert states.take(UPLOAD, "five", 60)  # nothing to hold: whoever asks goes on, and finds the state gone
    assert not states.renew(UPLOAD, "four", 60) and states.get(UPLOAD) is None

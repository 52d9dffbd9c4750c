"""The bulk event encoder gives, byte for byte, what the readable builder gives."""

from __future__ import annotations

import uuid

import pytest
from tinyreg.registry.event_bytes import EventEncoder, new_event_ids
from tinyreg.registry.events import Origin, Source, Subject, encode_event, event_of, unattended_origin

from tests.test_notification_events import ORIGIN, SOURCE, TARGETS

ORIGINS = [
    ("a client", ORIGIN),
    ("anonymous", Origin("r", "a:1", "h", "GET", "ua", "", "http://h")),
    ("a cleanup run", unattended_origin("CLEANUP", "run-1")),
    ("a command", unattended_origin("COMMAND", "cmd-1", "operator")),
    (
        "text to escape",
        Origin('q"1', "[::1]:5", "h\\x", "GET", 'curl/8 "quoted" \\ tab\t nl\n ctl\x01 é 漢 \u2028', 'o"ne', "http://h"),
    ),
]
TIMESTAMPS = [0, 0.5, 1764780586.25, 1764780586.9999996, 1764780587.0000004, 2_000_000_000.123456]


@pytest.mark.parametrize(("case", "origin"), ORIGINS, ids=[case for case, _ in ORIGINS])
@pytest.mark.parametrize(("target_case", "subject", "_target"), TARGETS, ids=[case for case, _, _ in TARGETS])
def test_the_bulk_encoder_writes_the_builders_bytes(
    case: str, origin: Origin, target_case: str, subject: Subject, _target: object
) -> None:
    encoder = EventEncoder(SOURCE)
    for timestamp in TIMESTAMPS:
        for _ in range(2):  # the second time from the encoder's cache
            assert encoder.encode(subject, origin, "e-1", timestamp) == encode_event(
                event_of(subject, origin, SOURCE, event_id="e-1", timestamp=timestamp)
            )


def test_a_batch_keeps_each_hosts_url_and_each_nodes_source_apart() -> None:
    subject = TARGETS[0][1]
    other_host = Origin("r", "a:1", "other:5000", "GET", "ua", "", "https://other:5000")
    encoder = EventEncoder(Source("node-2:5000", "i-2"))
    for origin in (ORIGIN, other_host, ORIGIN):
        expected = event_of(subject, origin, Source("node-2:5000", "i-2"), event_id="e", timestamp=1)
        assert encoder.encode(subject, origin, "e", 1) == encode_event(expected)


def test_event_ids_are_distinct_version_4_uuids() -> None:
    ids = new_event_ids(5000)
    assert len(set(ids)) == 5000 and new_event_ids(0) == []
    for text in ids:
        parsed = uuid.UUID(text)
        assert (str(parsed), parsed.version, parsed.variant) == (text, 4, uuid.RFC_4122)

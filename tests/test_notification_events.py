"""The event builder (pure): Distribution's event and envelope, table by table."""

from __future__ import annotations

import json
from typing import Any

import pytest
from tinyreg.registry.events import (
    BLOB_MEDIA_TYPE,
    EVENTS_MEDIA_TYPE,
    Origin,
    Source,
    Subject,
    encode_event,
    envelope,
    event_of,
    moved,
    rfc3339,
    unattended_origin,
)

ORIGIN = Origin(
    "req-1", "10.0.0.2:51000", "registry.example:5000", "PUT", "skopeo/1.13", "alice", "https://registry.example:5000"
)
SOURCE = Source("node-1:5000", "instance-a")
DIGEST = "sha256:" + "ab" * 32
MANIFEST = "application/vnd.oci.image.manifest.v1+json"
URL = "https://registry.example:5000/v2/team/app"

TARGETS: list[tuple[str, Subject, dict[str, Any]]] = [
    (
        "manifest push by tag",
        Subject("push", "manifest", "team/app", DIGEST, MANIFEST, 512, "v1", references=("sha256:c1", "sha256:l1")),
        {
            "mediaType": MANIFEST,
            "digest": DIGEST,
            "size": 512,
            "length": 512,
            "repository": "team/app",
            "url": f"{URL}/manifests/{DIGEST}",
            "tag": "v1",
            "references": [{"digest": "sha256:c1"}, {"digest": "sha256:l1"}],
        },
    ),
    (
        "manifest push by digest",
        Subject("push", "manifest", "team/app", DIGEST, MANIFEST, 512),
        {
            "mediaType": MANIFEST,
            "digest": DIGEST,
            "size": 512,
            "length": 512,
            "repository": "team/app",
            "url": f"{URL}/manifests/{DIGEST}",
        },
    ),
    (
        "blob push",
        Subject("push", "blob", "team/app", DIGEST, BLOB_MEDIA_TYPE, 9000),
        {
            "mediaType": BLOB_MEDIA_TYPE,
            "digest": DIGEST,
            "size": 9000,
            "length": 9000,
            "repository": "team/app",
            "url": f"{URL}/blobs/{DIGEST}",
        },
    ),
    (
        "blob pull",
        Subject("pull", "blob", "team/app", DIGEST, BLOB_MEDIA_TYPE, 9000),
        {
            "mediaType": BLOB_MEDIA_TYPE,
            "digest": DIGEST,
            "size": 9000,
            "length": 9000,
            "repository": "team/app",
            "url": f"{URL}/blobs/{DIGEST}",
        },
    ),
    (
        "mount",
        Subject("mount", "blob", "team/app", DIGEST, BLOB_MEDIA_TYPE, 9000, from_repository="team/base"),
        {
            "mediaType": BLOB_MEDIA_TYPE,
            "digest": DIGEST,
            "size": 9000,
            "length": 9000,
            "repository": "team/app",
            "url": f"{URL}/blobs/{DIGEST}",
            "fromRepository": "team/base",
        },
    ),
    ("manifest delete", Subject("delete", "manifest", "team/app", DIGEST), {"repository": "team/app", "digest": DIGEST}),
    (
        "tag delete",
        Subject("delete", "manifest", "team/app", DIGEST, tag="v1"),
        {"repository": "team/app", "digest": DIGEST, "tag": "v1"},
    ),
    ("move", moved("team/app", "other/web"), {"repository": "other/web", "fromRepository": "team/app"}),
]


@pytest.mark.parametrize(("case", "subject", "target"), TARGETS, ids=[case for case, _, _ in TARGETS])
def test_each_action_has_distributions_target(case: str, subject: Subject, target: dict[str, Any]) -> None:
    event = event_of(subject, ORIGIN, SOURCE, event_id="e-1", timestamp=0.5)
    assert event["target"] == target
    assert event["action"] == subject.action


def test_an_event_carries_the_request_the_actor_and_the_source() -> None:
    event = event_of(TARGETS[0][1], ORIGIN, SOURCE, event_id="e-1", timestamp=1764780586.25)
    assert {key: event[key] for key in ("id", "timestamp", "request", "actor", "source")} == {
        "id": "e-1",
        "timestamp": "2025-12-03T16:49:46.250000Z",
        "request": {
            "id": "req-1",
            "addr": "10.0.0.2:51000",
            "host": "registry.example:5000",
            "method": "PUT",
            "useragent": "skopeo/1.13",
        },
        "actor": {"name": "alice"},
        "source": {"addr": "node-1:5000", "instanceID": "instance-a"},
    }


def test_an_anonymous_request_has_an_empty_actor() -> None:
    anonymous = Origin("r", "a:1", "h", "GET", "ua", "", "http://h")
    assert event_of(TARGETS[3][1], anonymous, SOURCE, event_id="e", timestamp=0)["actor"] == {}


@pytest.mark.parametrize(
    ("origin", "request_part", "actor"),
    [
        (
            unattended_origin("CLEANUP", "run-1"),
            {"id": "run-1", "addr": "", "host": "", "method": "CLEANUP", "useragent": ""},
            {},
        ),
        (
            unattended_origin("COMMAND", "cmd-1", "operator"),
            {"id": "cmd-1", "addr": "", "host": "", "method": "COMMAND", "useragent": ""},
            {"name": "operator"},
        ),
    ],
)
def test_a_change_no_client_asked_for_says_so(origin: Origin, request_part: dict[str, str], actor: dict[str, str]) -> None:
    event = event_of(TARGETS[-2][1], origin, SOURCE, event_id="e", timestamp=0)
    assert (event["request"], event["actor"]) == (request_part, actor)
    assert event["target"] == {"repository": "team/app", "digest": DIGEST, "tag": "v1"}  # no URL of an unknown host


@pytest.mark.parametrize(
    ("timestamp", "text"),
    [(0, "1970-01-01T00:00:00.000000Z"), (1.5, "1970-01-01T00:00:01.500000Z"), (1764780586, "2025-12-03T16:49:46.000000Z")],
)
def test_timestamps_are_rfc3339_in_utc(timestamp: float, text: str) -> None:
    assert rfc3339(timestamp) == text


@pytest.mark.parametrize("count", [0, 1, 3])
def test_the_envelope_holds_the_events_in_their_order(count: int) -> None:
    events = [event_of(TARGETS[n % len(TARGETS)][1], ORIGIN, SOURCE, event_id=f"e-{n}", timestamp=n) for n in range(count)]
    body = envelope([encode_event(event) for event in events])
    assert json.loads(body) == {"events": events}


def test_the_media_type_is_distributions() -> None:
    assert EVENTS_MEDIA_TYPE == "application/vnd.docker.distribution.events.v1+json"

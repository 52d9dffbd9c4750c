"""Event notifications in CNCF Distribution's format, as pure functions (no clock, no I/O).

An event says what happened (`action`: push, pull, delete, mount, and tinyreg's `move`) to what
(`target`: media type, digest, size and length, repository, url, tag, fromRepository for a mount), because of which
request (`request`: its id, the client's address, Host, method, User-Agent), by whom (`actor`)
and on which node (`source`). Events travel in envelopes, `{"events": [...]}`, sent with the
media type `EVENTS_MEDIA_TYPE`: receivers written for Distribution read them unchanged.

As in Distribution, the target of a delete holds only the repository, the digest and the tag
(when a tag was deleted); blobs are described as `application/octet-stream`. A `move` (a
repository renamed, or moved with its project) names the new `repository` and the old one as
`fromRepository`, the field Distribution uses for a mount's source; receivers written for
Distribution skip actions they do not know.

A change no client asked for (a cleanup policy's run, a command of the operator) has an origin
made by `unattended_origin`: no address, no Host, the method saying what made the change.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

EVENTS_MEDIA_TYPE = "application/vnd.docker.distribution.events.v1+json"
BLOB_MEDIA_TYPE = "application/octet-stream"
PUSH, PULL, DELETE, MOUNT, MOVE = "push", "pull", "delete", "mount", "move"
ACTIONS = (PUSH, PULL, DELETE, MOUNT, MOVE)
#: The request methods of changes no client asked for.
CLEANUP_METHOD, COMMAND_METHOD = "CLEANUP", "COMMAND"


@dataclass(frozen=True, slots=True)
class Origin:
    """The request an event comes from, and who sent it."""

    request_id: str
    addr: str  # the client, as host:port
    host: str  # the request's Host
    method: str
    useragent: str
    actor: str  # the authenticated user (or token owner); empty when anonymous
    base_url: str  # scheme://host of the registry as the client addressed it, for `url`


def unattended_origin(method: str, request_id: str, actor: str = "") -> Origin:
    """The origin of a change made without a client's request: `method` says what made it
    (`CLEANUP_METHOD`, `COMMAND_METHOD`); `request_id` groups the events of one run."""
    return Origin(request_id, "", "", method, "", actor, "")


@dataclass(frozen=True, slots=True)
class Source:
    """The registry node that generated events."""

    addr: str
    instance_id: str


@dataclass(frozen=True, slots=True)
class Subject:
    """What an event is about: a manifest or a blob of a repository, or a repository (a move)."""

    action: str
    kind: str  # "manifest", "blob" or "repository"
    repository: str
    digest: str
    media_type: str | None = None  # None for a delete: never filtered out by media type
    size: int = 0
    tag: str | None = None
    from_repository: str | None = None
    references: tuple[str, ...] = ()  # digests a pushed manifest refers to


def rfc3339(timestamp: float) -> str:
    """A Unix time as RFC 3339 in UTC, with microseconds: `2026-12-03T16:49:46.123456Z`."""
    seconds, micros = divmod(round(timestamp * 1_000_000), 1_000_000)
    return f"{_rfc3339_second(seconds)}.{micros:06d}Z"


@functools.lru_cache(maxsize=8)
def _rfc3339_second(seconds: int) -> str:
    # Events come by the thousand per second: the date and time are formatted once per second.
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")


def target_url(base_url: str, subject: Subject) -> str:
    resource = "manifests" if subject.kind == "manifest" else "blobs"
    return f"{base_url.rstrip('/')}/v2/{subject.repository}/{resource}/{subject.digest}"


def target_of(subject: Subject, base_url: str) -> dict[str, Any]:
    """The event's `target`: the descriptor, plus where the content lives."""
    if subject.action == MOVE:
        target: dict[str, Any] = {"repository": subject.repository}
    elif subject.action == DELETE:
        target = {"repository": subject.repository, "digest": subject.digest}
    else:
        target = {
            "mediaType": subject.media_type or BLOB_MEDIA_TYPE,
            "digest": subject.digest,
            "size": subject.size,
            "length": subject.size,  # Distribution's older name of `size`: receivers read either
            "repository": subject.repository,
            "url": target_url(base_url, subject),
        }
        if subject.references:
            target["references"] = [{"digest": digest} for digest in subject.references]
    if subject.tag is not None:
        target["tag"] = subject.tag
    if subject.from_repository is not None:
        target["fromRepository"] = subject.from_repository
    return target


def event_of(subject: Subject, origin: Origin, source: Source, *, event_id: str, timestamp: float) -> dict[str, Any]:
    """One event, as Distribution writes it."""
    return {
        "id": event_id,
        "timestamp": rfc3339(timestamp),
        "action": subject.action,
        "target": target_of(subject, origin.base_url),
        "request": {
            "id": origin.request_id,
            "addr": origin.addr,
            "host": origin.host,
            "method": origin.method,
            "useragent": origin.useragent,
        },
        "actor": {"name": origin.actor} if origin.actor else {},
        "source": {"addr": source.addr, "instanceID": source.instance_id},
    }


def encode_event(event: dict[str, Any]) -> bytes:
    """An event's JSON bytes, as queued and sent (compact, stable key order)."""
    return json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode()


def envelope(events: Sequence[bytes]) -> bytes:
    """The body of one notification: the encoded events in an envelope, in their order."""
    return b'{"events":[' + b",".join(events) + b"]}"


def moved(old: str, new: str) -> Subject:
    """The subject of a repository's move from `old` to `new` (its tags and manifests went with it)."""
    return Subject(MOVE, "repository", new, "", from_repository=old)

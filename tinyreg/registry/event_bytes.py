"""Events encoded in bulk: the bytes of `encode_event(event_of(...))`, without building the dict.

A flush of pulls may bring thousands of events a second, mostly about the same few manifests
and blobs: what repeats within a batch (a subject's `target` as addressed by one host, the
node's `source`) is encoded once, and the rest is put together with json's own string escaper.
`tests/test_event_bytes.py` holds this to the bytes of the readable builder, field by field.
"""

from __future__ import annotations

import json
import os
from json.encoder import encode_basestring  # json's (C) escaper: what `encode_event` uses, non-ASCII kept

from tinyreg.registry.events import Origin, Source, Subject, rfc3339, target_of


def new_event_ids(count: int) -> list[str]:
    """`count` random version 4 UUIDs, as event ids (what `str(uuid.uuid4())` gives), from one
    read of the random source and formatted by hand: a flush needs thousands a second."""
    text = os.urandom(16 * count).hex()
    return [
        f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:32]}"
        for h in (text[n : n + 32] for n in range(0, 32 * count, 32))
    ]


# The RFC 4122 variant: the top two bits of the 17th hex digit are 10 (8, 9, a or b).
_VARIANT = {digit: "89ab"[int(digit, 16) & 3] for digit in "0123456789abcdef"}


def _compact(value: object) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


class EventEncoder:
    """Encodes the events of one batch, coming from one node (`source`)."""

    def __init__(self, source: Source) -> None:
        self._source = _compact({"addr": source.addr, "instanceID": source.instance_id})
        self._targets: dict[tuple[Subject, str], str] = {}

    def _target(self, subject: Subject, base_url: str) -> str:
        key = (subject, base_url)
        found = self._targets.get(key)
        if found is None:
            found = self._targets[key] = _compact(target_of(subject, base_url))
        return found

    def encode(self, subject: Subject, origin: Origin, event_id: str, timestamp: float) -> bytes:
        """The event's JSON bytes, as `encode_event(event_of(subject, origin, source, ...))`."""
        q = encode_basestring
        actor = f'{{"name":{q(origin.actor)}}}' if origin.actor else "{}"
        return (
            f'{{"id":{q(event_id)},"timestamp":"{rfc3339(timestamp)}","action":{q(subject.action)},'
            f'"target":{self._target(subject, origin.base_url)},'
            f'"request":{{"id":{q(origin.request_id)},"addr":{q(origin.addr)},"host":{q(origin.host)},'
            f'"method":{q(origin.method)},"useragent":{q(origin.useragent)}}},'
            f'"actor":{actor},"source":{self._source}}}'
        ).encode()

"""Blobs sent whole (`tinyreg.registry.whole_bodies`): the rules, and a session that received a
chunk while a body sent whole was on its way, on every storage implementation."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import pytest
import trio
from tinyreg.digest import Digest
from tinyreg.registry.errors import RegistryError
from tinyreg.registry.uploads import Uploads
from tinyreg.registry.whole_bodies import WHOLE_MAX, read_whole, takes_whole

from .backends import Backend


@pytest.mark.parametrize(
    ("remote", "length", "content_range", "expected"),
    [
        (True, 1, None, True),
        (True, WHOLE_MAX, None, True),
        (True, WHOLE_MAX + 1, None, False),  # larger: streamed through the staging
        (True, None, None, False),  # chunked transfer: the length is not known
        (True, 0, None, False),  # nothing to read
        (True, 10, "0-9", False),  # a chunk with its range continues a session
        (False, 10, None, False),  # local files: staging costs no round trip
    ],
)
def test_which_bodies_are_read_whole(remote: bool, length: int | None, content_range: str | None, expected: bool) -> None:
    assert takes_whole(remote, length, content_range) is expected


async def _body(*chunks: bytes) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk


@pytest.mark.parametrize(
    ("chunks", "length", "message"),
    [
        ((b"abc", b"def"), 6, None),
        ((b"abc", b"defg"), 6, "chunk is longer than the 6 bytes announced"),
        ((b"abc",), 6, "chunk holds 3 bytes, 6 were announced"),
    ],
)
def test_a_body_read_whole_must_hold_the_length_announced(chunks: tuple[bytes, ...], length: int, message: str | None) -> None:
    if message is None:
        assert trio.run(read_whole, _body(*chunks), length) == b"".join(chunks)
        return
    with pytest.raises(RegistryError) as raised:
        trio.run(read_whole, _body(*chunks), length)
    assert raised.value.code == "SIZE_INVALID" and raised.value.message == message


def test_a_body_sent_whole_does_not_finish_a_session_that_received_a_chunk_meanwhile(backend: Backend) -> None:
    """The session's size is checked again in the unit of work that links the blob: the chunk
    another request added stays, and the session goes on to the blob of all its bytes."""
    uploads = Uploads(backend.meta, backend.blobs)
    first, whole = os.urandom(100), os.urandom(1000)

    async def main() -> None:
        upload = uploads.start("group/project")
        await uploads.append("group/project", upload.id, _body(first))
        with pytest.raises(RegistryError) as raised:
            await uploads._finish_whole(upload, Digest.of(whole), _body(whole), len(whole), None)  # read before the chunk
        assert raised.value.code == "BLOB_UPLOAD_INVALID"
        assert uploads.get("group/project", upload.id).size == len(first)
        size = await uploads.finish("group/project", upload.id, Digest.of(first + whole), _body(whole), content_length=len(whole))
        assert size == len(first + whole)

    trio.run(main)
    with backend.blobs.open(Digest.of(first + whole)) as stored:
        assert stored.read() == first + whole
    with backend.meta.read() as tx:
        assert tx.link("group/project", str(Digest.of(first + whole))) is not None
        assert tx.link("group/project", str(Digest.of(whole))) is None

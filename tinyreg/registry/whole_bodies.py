"""Blobs sent whole to a remote blob store: read into memory, verified, written to their key.

On S3 an upload staged the usual way costs a lease, a tail object, the staging's state saved,
a copy to the blob's key, a HEAD and the staging's discard: a dozen round trips to the gateway
and the database for a blob of a few KiB, most of a small push's time. A blob that arrives whole
(a monolithic POST, or the PUT of a session that holds no bytes yet) and is small needs none of
that: its bytes are held (at most `WHOLE_MAX`, like one S3 part), hashed, and put at the blob's
key only once they match the digest, so readers never see unverified bytes there. Local files
keep the staging path: there a staging file costs no round trip.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import trio

from tinyreg.registry.errors import RegistryError
from tinyreg.registry.names import Digest

WHOLE_MAX = 4 * 1024 * 1024
HASH_INLINE = 64 * 1024  # hashing more than this goes to a worker thread (~1 ms per MiB)


def takes_whole(remote: bool, content_length: int | None, content_range: str | None) -> bool:
    """Whether a request's body is read whole: a remote store, a known length up to WHOLE_MAX,
    and no Content-Range (a chunk that continues a session goes the staging way)."""
    return remote and content_length is not None and 0 < content_length <= WHOLE_MAX and content_range is None


async def read_whole(body: AsyncIterator[bytes], length: int) -> bytes:
    """The body's bytes, which must be exactly the `length` announced (SIZE_INVALID otherwise)."""
    received = bytearray()
    async for chunk in body:
        received += chunk
        if len(received) > length:
            raise RegistryError("SIZE_INVALID", f"chunk is longer than the {length} bytes announced")
    if len(received) != length:
        raise RegistryError("SIZE_INVALID", f"chunk holds {len(received)} bytes, {length} were announced")
    return bytes(received)


async def check_whole(data: bytes, digest: Digest) -> None:
    """DIGEST_INVALID unless `data` hashes to `digest`."""
    if len(data) > HASH_INLINE:
        actual = await trio.to_thread.run_sync(Digest.of, data, digest.algorithm)
    else:
        actual = Digest.of(data, digest.algorithm)
    if actual != digest:
        raise RegistryError("DIGEST_INVALID", f"upload has digest {actual}, not {digest}", detail={"digest": str(digest)})

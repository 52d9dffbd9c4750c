"""A streamed blob read one chunk ahead of the client, for a remote store (S3).

Reading a chunk from the store and sending the one before to the client each wait on a network
peer; one after the other, the server's core sat idle half of a large pull (a 64 MiB pull from
S3: ~130 ms, of which ~68 ms of CPU). Here the next chunk's read runs in a worker thread while
the current one is sent. At most two chunks are held: memory stays bounded whatever the size.

The read is started with `trio.lowlevel.start_thread_soon`, not `to_thread`, because an async
generator may not hold a nursery across a `yield`; a read still running when the body ends (the
client went away) is waited for, shielded, before the file is closed under it.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import BinaryIO

import outcome
import trio

from tinyreg.registry.names import Digest


class _Read:
    """One `file.read(size)` in a worker thread, its outcome delivered to the event loop."""

    def __init__(self, file: BinaryIO, size: int) -> None:
        self.done = trio.Event()
        self.result: outcome.Outcome[bytes] | None = None
        token = trio.lowlevel.current_trio_token()

        def deliver(result: outcome.Outcome[bytes]) -> None:
            self.result = result
            token.run_sync_soon(self.done.set)

        trio.lowlevel.start_thread_soon(lambda: file.read(size), deliver)

    async def bytes(self) -> bytes:
        await self.done.wait()
        assert self.result is not None
        return self.result.unwrap()


async def chunks_ahead(file: BinaryIO, digest: Digest, start: int, length: int, chunk: int) -> AsyncGenerator[bytes, None]:
    """`length` bytes of `file` from `start`, in chunks of up to `chunk`, each read while the one
    before is sent; OSError if the file ends early. The file is closed at the end."""
    pending: _Read | None = None
    try:
        await trio.to_thread.run_sync(file.seek, start)
        remaining = length
        pending = _Read(file, min(chunk, remaining))
        while pending is not None:
            data = await pending.bytes()
            if not data:
                pending = None
                raise OSError(f"blob {digest} is shorter than its recorded size")
            remaining -= len(data)
            pending = _Read(file, min(chunk, remaining)) if remaining > 0 else None
            yield data
    finally:
        if pending is not None:
            with trio.CancelScope(shield=True):
                await pending.done.wait()
        file.close()

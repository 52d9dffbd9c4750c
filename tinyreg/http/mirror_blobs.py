"""A blob fetched from upstream once, streamed to its clients while it is cached.

One fetch per digest at a time (single flight): the first request starts it; requests coming
before its first bytes went out get them too, as they come; later ones wait for its end and
are served from the cache. The bytes go into an upload staging file through the `BlobStore`
and to the clients a batch at a time, each batch sent once the next one has arrived: the last
one waits for the digest's verdict (not for the commit's sync, which follows it). Only verified
bytes are committed as the blob; bytes that do not match leave nothing stored, and the clients'
responses are aborted before their end (the connection closed short of the announced length,
or without the chunked terminator), so no client ever takes bad bytes for the blob.

A prefetched blob (asked for before any client asked, see `mirror_pull.py`) keeps what it
relayed to nobody in a backlog, up to a bound: the first client coming gets the backlog, then
the rest as it comes, so the fetch runs ahead without the client waiting for the commit. A
full backlog makes the fetch wait for a client (a while) before it goes on without one; later
clients then wait for the end, as for any fetch whose bytes went out.

The fetch runs in the server's nursery, not the request's task: a first client going away
leaves the others to get the blob.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Any

import httpx
import trio

from tinyreg.http.asgi import ResponseAborted
from tinyreg.registry.errors import RegistryError
from tinyreg.registry.names import Digest
from tinyreg.storage.interfaces import BlobStore, StagingFile

log = logging.getLogger("tinyreg.mirror")
RELAY_QUEUE = 8  # batches buffered for each client before the fetch waits for it
WRITE_BATCH = 1024 * 1024
RELAY_PIECE = 256 * 1024  # pieces of a batch at least this large go to the clients as they came
WRITE_QUEUE = 4  # batches read ahead of the writer
RELAY_TIMEOUT = 60.0  # a client taking no batch for this long is left behind (the fetch goes on)
PREFETCH_HOLD = 4 * 1024 * 1024  # bytes a prefetch keeps for its first client (it came by then, mostly)
SUBSCRIBER_WAIT = 5.0  # seconds a prefetch with a full backlog waits for a client before it goes on


class BlobFlight:
    """One blob being fetched: clients that come before its first bytes are relayed subscribe
    and get the bytes as they come; later ones wait for `done` (`error` says why it failed)."""

    def __init__(self, length: int | None = None, *, hold: int = 0) -> None:
        self.done = trio.Event()
        self.ready = trio.Event()  # upstream answered (its length is known), or the fetch failed
        self.error: RegistryError | None = None
        self.length = length
        self.complete = False  # every piece relayed, the last ones after the blob was verified
        self.settled = trio.Event()  # the clients had every byte, or the fetch failed: the next prefetch's turn
        self.prefetch = hold > 0  # started before any client asked: its failure is nobody's answer
        self._relayed = False  # bytes went out: a new subscriber would miss them
        self._subscribers: list[trio.MemorySendChannel[list[bytes] | BaseException]] = []
        self._hold = hold
        self._backlog: list[bytes] | None = [] if hold > 0 else None  # relayed to nobody yet, kept
        self._backlog_size = 0
        self._subscribed = trio.Event()
        self._sending = 0  # clients whose body has not ended yet

    def subscribe(self) -> AsyncGenerator[bytes, None] | None:
        """A client's body: the backlog, if any, then the pieces as relayed; None once bytes went
        out without it (or the fetch ended)."""
        if self._relayed or self.done.is_set() or self.error is not None:
            return None
        backlog = list(self._backlog or ())
        self._subscribed.set()
        self._sending += 1
        if self.complete:  # verified, the commit under way: the backlog is the whole blob
            return self._chunks(backlog, None)
        send, receive = trio.open_memory_channel[list[bytes] | BaseException](RELAY_QUEUE)
        self._subscribers.append(send)
        return self._chunks(backlog, receive)

    async def _relay(self, item: list[bytes] | BaseException, timeout: float = RELAY_TIMEOUT, *, last: bool = False) -> None:
        """Hand a batch's pieces (or the failure) to each client, leaving behind those gone or stalled;
        with nobody there yet, keep them in the backlog if there is one (the `last` ones always:
        then the backlog is the blob, for the clients coming during its commit)."""
        if not item:
            return
        if self._backlog is not None and not self._subscribers:
            if isinstance(item, BaseException):
                return
            self._backlog += item
            self._backlog_size += sum(map(len, item))
            if self._backlog_size > self._hold and not last:
                with trio.move_on_after(SUBSCRIBER_WAIT):
                    await self._subscribed.wait()
                if not self._subscribers:  # nobody came (or they left): later ones wait for the end
                    self._backlog, self._relayed = None, True
            return
        self._relayed = True
        self._backlog = None
        for send in list(self._subscribers):
            try:
                with trio.move_on_after(timeout) as waited:
                    await send.send(item)
                if not waited.cancelled_caught:
                    continue
                send.close()  # its response ends short: aborted, as `_chunks` says
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                pass  # the client went away: the blob is still cached for the others
            self._subscribers.remove(send)

    def _close_relay(self) -> None:
        for send in self._subscribers:
            send.close()
        self._subscribers = []

    async def _chunks(
        self, backlog: list[bytes], receive: trio.MemoryReceiveChannel[list[bytes] | BaseException] | None
    ) -> AsyncGenerator[bytes, None]:
        """One client's body: the backlog, then the pieces as relayed; ResponseAborted if the fetch fails."""
        try:
            for piece in backlog:
                yield piece
            del backlog[:]
            if receive is not None:
                async with receive:
                    async for item in receive:
                        if isinstance(item, BaseException):
                            raise ResponseAborted(str(item))
                        for piece in item:
                            yield piece
            if not self.complete:
                raise ResponseAborted("the fetch from upstream stopped")
        finally:
            self._sending -= 1
            if self.complete and not self._sending:
                self.settled.set()

    async def fill(
        self,
        store: BlobStore,
        response: httpx.Response,
        digest: Digest,
        length: int | None,
        commit: Callable[[int], Awaitable[None]],
        after: trio.Event | None = None,
    ) -> None:
        """Copy `response` into a staging file and to the clients, verify, `commit(size)` the blob.

        The clients get their last bytes once the digest is verified, before the blob is made
        durable: the commit's sync does not delay them, and a request coming meanwhile still
        finds this flight and waits for its end. With `after`, the body is read once that is set
        or a client came (or a while passed): prefetched blobs take their turns in the order
        their clients ask for them, each once the clients of the one before had its last bytes,
        rather than share a core to all end late."""
        upload_id = uuid.uuid4().hex
        try:
            if after is not None:
                with trio.move_on_after(SUBSCRIBER_WAIT):
                    await _first_of(after, self._subscribed)
            store.create_staging(upload_id)
            file = store.open_staging(upload_id)
            if file is None:
                raise OSError("the staging file vanished")
            try:
                await file.lock()  # an upload sweep leaves a held staging file alone
                hasher = digest.hasher()
                size, unsent = await self._copy(file, response, hasher)
                if length is not None and size != length:
                    raise _mismatch(f"upstream sent {size} bytes for {digest}, announcing {length}")
                actual = Digest(digest.algorithm, hasher.hexdigest())
                if actual != digest:
                    raise _mismatch(f"upstream sent bytes of digest {actual} for {digest}")
                await self._relay(unsent, last=True)  # the end, sent once the bytes proved to be the blob
                self.complete = True
                if not self._sending:
                    self.settled.set()
                self._close_relay()
                await trio.to_thread.run_sync(store.commit, upload_id, digest)
                await commit(size)
            finally:
                file.close()
        except BaseException as exc:
            store.discard(upload_id)
            cause = _single(exc)
            self.error = (
                cause
                if isinstance(cause, RegistryError)
                else RegistryError("UNKNOWN", f"fetching {digest} from upstream failed: {cause!r}", status=502)
            )
            log.warning("pull-through of %s failed, nothing stored: %s", digest, self.error.message)
            with trio.CancelScope(shield=True):
                await self._relay(self.error, timeout=1.0)
            if not isinstance(exc, Exception):
                raise
        finally:
            self.settled.set()
            self._close_relay()
            self._backlog = None
            with trio.CancelScope(shield=True):
                await response.aclose()
            self.done.set()

    async def _copy(self, file: StagingFile, response: httpx.Response, hasher: Any) -> tuple[int, list[bytes]]:
        """Read the upstream body in batches: each is written and hashed by a second task (in a
        worker thread, one hop per batch) while the next is read, and relayed to the clients once
        the next one came. Returns the bytes written and the pieces not relayed yet (the last ones)."""
        send, receive = trio.open_memory_channel[list[bytes]](WRITE_QUEUE)
        written = 0

        async def write() -> None:
            nonlocal written
            async with receive:
                async for batch in receive:
                    size = sum(map(len, batch))
                    await file.append(written, batch, size, hasher)
                    written += size

        held: list[bytes] = []
        pending: list[bytes] = []
        pending_size = 0
        async with trio.open_nursery() as nursery:
            nursery.start_soon(write)
            async with send:
                async for chunk in response.aiter_bytes():
                    pending.append(chunk)
                    pending_size += len(chunk)
                    if pending_size >= WRITE_BATCH:
                        await send.send(pending)
                        await self._relay(held)
                        held, pending, pending_size = relay_pieces(pending), [], 0
                await send.send(pending)
        return written, held + relay_pieces(pending)


def relay_pieces(chunks: list[bytes]) -> list[bytes]:
    """The chunks of a batch as the clients get them: large ones as they came (no copy), runs of
    small ones joined (a TLS upstream gives 16 KiB pieces: one send each would cost more)."""
    pieces: list[bytes] = []
    run: list[bytes] = []
    for chunk in chunks:
        if len(chunk) < RELAY_PIECE:
            run.append(chunk)
            continue
        if run:
            pieces.append(b"".join(run))
            run = []
        pieces.append(chunk)
    if run:
        pieces.append(b"".join(run))
    return pieces


async def _first_of(*events: trio.Event) -> None:
    """Wait until one of `events` is set."""
    async with trio.open_nursery() as nursery:

        async def wait(event: trio.Event) -> None:
            await event.wait()
            nursery.cancel_scope.cancel()

        for event in events:
            nursery.start_soon(wait, event)


def _single(exc: BaseException) -> BaseException:
    """The one exception inside the groups a nursery wraps it in."""
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    return exc


def _mismatch(message: str) -> RegistryError:
    return RegistryError("UNKNOWN", message + "; nothing was stored", status=502)

"""The HTTP connections: hypercorn's trio TCP server with the bounds the registry needs.

hypercorn's own `worker_serve` builds its `TCPServer` with fixed choices: 64 KiB reads, and
writes shielded from cancellation with no time limit, so a client that requests a large blob
and never reads keeps its connection, its open blob file and its buffers for as long as it
likes. `Connection` changes exactly those two things, for the servers started here only:

- reads are large (`RECEIVE_SIZE`) while a request body streams in, and small while a request
  head is awaited, so a head over the limit (`HEAD_LIMIT`) is refused having read little more;
- a write that makes no progress for `send_timeout` seconds closes the connection, which
  cancels the request's task (closing its blob file); over TLS, progress is a piece of
  `TLS_SEND_PIECE` bytes accepted, as the encryption stands between the data and the socket.

It relies on hypercorn internals (`TCPServer.run`, `protocol_send`, `_read_data`, `_close`,
`send_lock`, `stream`, `protocol`); `check_hypercorn` fails at start-up if the methods change.
"""

from __future__ import annotations

import logging
import ssl
from functools import partial
from math import inf
from typing import Any

import trio
from hypercorn.config import Config, Sockets
from hypercorn.events import Closed, Event, RawData, Updated
from hypercorn.trio.tcp_server import TCPServer
from hypercorn.trio.worker_context import WorkerContext
from hypercorn.typing import AppWrapper, ConnectionState
from hypercorn.utils import repr_socket_addr

log = logging.getLogger("tinyreg")

RECEIVE_SIZE = 1024 * 1024
"""Read size while a body streams in: a blob upload then costs a trip through h11 and the app's
queue per MiB rather than per 64 KiB."""
HEAD_LIMIT = 16 * 1024
"""Request heads (request line and headers) are refused with 431 once more than this has arrived
without completing one; a head that a single read completes may reach HEAD_LIMIT + HEAD_RECEIVE_SIZE."""
HEAD_RECEIVE_SIZE = 4 * 1024
"""Read size while waiting for a request head: small, so that a huge head is refused having read
little of it (the read that completes a head usually carries the start of a body too)."""
TLS_SEND_PIECE = 256 * 1024


def check_hypercorn() -> None:
    """Fail loudly, at start-up, if the hypercorn internals `Connection` builds on have changed."""
    needed = ("run", "protocol_send", "_read_data", "_close")
    missing = [name for name in needed if not callable(getattr(TCPServer, name, None))]
    if missing:
        raise RuntimeError(f"this hypercorn's trio TCPServer lacks {', '.join(missing)}: tinyreg needs an update for it")


class Connection(TCPServer):
    """One client connection (see the module's docstring for what differs from hypercorn's)."""

    def __init__(self, *args: Any, send_timeout: float) -> None:
        super().__init__(*args)
        self.send_timeout = send_timeout
        self.awaiting_head = True
        self.cancel_scope = trio.CancelScope()

    async def protocol_send(self, event: Event) -> None:
        if not isinstance(event, RawData):
            if isinstance(event, Updated):
                self.awaiting_head = event.idle  # not idle: a request head was read, its body may follow
            await super().protocol_send(event)
            return
        async with self.send_lock:
            try:
                stalled = await self._send_with_progress(memoryview(event.data))
            except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
                await self.protocol.handle(Closed())
                return
            if stalled:
                await self._give_up()

    async def _send_with_progress(self, data: memoryview) -> bool:
        """Write all of `data`; True when the peer accepted nothing for `send_timeout` seconds.

        Shielded as in hypercorn (a cancelled partial write would corrupt the response), but the
        deadline moves with every byte the peer accepts: the socket takes as much as it can per
        call (no extra system calls on a fast client) and a peer that stops reading is cut off.
        """
        if isinstance(self.stream, trio.SSLStream):
            return await self._send_encrypted(data)
        sock = self.stream.socket
        with trio.CancelScope(shield=True, deadline=trio.current_time() + self.send_timeout) as scope:
            while data:
                sent = await sock.send(data)
                data = data[sent:]
                scope.deadline = trio.current_time() + self.send_timeout
        return scope.cancelled_caught

    async def _send_encrypted(self, data: memoryview) -> bool:
        """`_send_with_progress` over TLS: the deadline moves with every piece the peer accepts."""
        with trio.CancelScope(shield=True, deadline=trio.current_time() + self.send_timeout) as scope:
            for start in range(0, len(data), TLS_SEND_PIECE):
                await self.stream.send_all(data[start : start + TLS_SEND_PIECE])
                scope.deadline = trio.current_time() + self.send_timeout
        return scope.cancelled_caught

    async def _give_up(self) -> None:
        """Close a connection whose peer stopped reading: cancel its tasks, then `run` closes the socket."""
        log.info("closing a connection that accepted no bytes for %g seconds", self.send_timeout)
        self.cancel_scope.cancel()
        await trio.lowlevel.checkpoint()  # raises Cancelled: whichever task was writing is one of the connection's

    async def run(self) -> None:
        with self.cancel_scope:
            await super().run()

    async def _close(self) -> None:
        # Shielded so that a cancelled connection still gets its socket closed (both steps return at
        # once); under the send lock, which hypercorn does not take here, so that a response being
        # written is not met by the end of stream (BusyResourceError, logged as an app error).
        with trio.CancelScope(shield=True):
            async with self.send_lock:
                await super()._close()

    async def _read_data(self) -> None:
        while True:
            size = HEAD_RECEIVE_SIZE if self.awaiting_head else RECEIVE_SIZE
            try:
                with trio.fail_after(self.config.read_timeout or inf):
                    data = await self.stream.receive_some(size)
            except (trio.ClosedResourceError, trio.BrokenResourceError, trio.TooSlowError):
                break
            await self.protocol.handle(RawData(bytes(data)))
            if data == b"":
                break
        await self.protocol.handle(Closed())


async def serve_connections(
    app: AppWrapper,
    config: Config,
    *,
    send_timeout: float,
    sockets: Sockets | None,
    stop: trio.Event,
    ssl_context: ssl.SSLContext | None = None,
    task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Accept HTTP connections on `sockets` (or `config.bind`) until `stop` is set; report the URLs.

    hypercorn's `worker_serve` with `Connection` in place of its `TCPServer`, and without what the
    registry does not use (QUIC, lifespan events, statsd, max_requests). With `ssl_context`, every
    socket serves HTTPS (HTTP/2 or HTTP/1.1, as ALPN decides); the context may change while serving.
    """
    check_hypercorn()
    if sockets is None:
        sockets = config.create_sockets()
        for sock in sockets.insecure_sockets:
            sock.listen(config.backlog)
    if sockets.secure_sockets or sockets.quic_sockets:
        raise RuntimeError("tinyreg binds its own sockets and wraps them for TLS itself")
    context = WorkerContext(None)
    listeners: list[trio.abc.Listener[Any]] = []
    for sock in sockets.insecure_sockets:
        listener = trio.SocketListener(trio.socket.from_stdlib_socket(sock))
        listeners.append(listener if ssl_context is None else trio.SSLListener(listener, ssl_context, https_compatible=True))
    scheme = "http" if ssl_context is None else "https"
    binds = [f"{scheme}://{repr_socket_addr(sock.family, sock.getsockname())}" for sock in sockets.insecure_sockets]
    state = ConnectionState({})

    async def handle(stream: Any) -> None:
        await Connection(app, config, context, state, stream, send_timeout=send_timeout).run()

    async with trio.open_nursery() as connections:
        async with trio.open_nursery() as accepting:
            accepting.start_soon(partial(trio.serve_listeners, handle, listeners, handler_nursery=connections))
            task_status.started(binds)
            await stop.wait()
            accepting.cancel_scope.cancel()
        # As hypercorn does: idle keep-alive connections close now, open requests get a grace period.
        await context.terminated.set()
        connections.cancel_scope.deadline = trio.current_time() + config.graceful_timeout

"""An upload's staging in S3 opened for appending (see `tinyreg.storage.interfaces.StagingFile`).

One holder at a time across processes and nodes: `lock` takes the upload's lease, kept in its
state's row of the metadata store (see `tinyreg.storage.staging_states`), renewed while bytes
keep coming. Every call of the async methods runs in a worker thread; the short synchronous ones
(`is_current`, `trim`, `close`) make at most a few small requests, and the registry calls them
in a worker thread too when the store is remote.

Each `append` ends with everything durable: parts of 5 MiB and more are uploaded, the rest
becomes the new tail object, and the state (saved over the version this holder read) names both. The tail's bytes are also kept
in memory while the lease is held, so the next append does not read them back.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import trio

from tinyreg.storage.s3.stagings import PART_MIN, PART_TARGET, Checkpoint, Stagings, State

LEASE_TTL = 60.0  # seconds; renewed by appends once half of it has passed
LOCK_POLL_MAX = 0.2


class S3StagingFile:
    __slots__ = ("_tail", "expires", "holder", "stagings", "state", "upload_id")

    def __init__(self, stagings: Stagings, upload_id: str, state: State) -> None:
        self.stagings = stagings
        self.upload_id = upload_id
        self.state = state
        self.holder: str | None = None  # our id in the upload's lease, while we hold it
        self.expires = 0.0  # when our lease runs out (at the latest)
        self._tail: bytes | None = None  # the top checkpoint's tail bytes, once known

    async def lock(self) -> None:
        holder, pause = uuid.uuid4().hex, 0.005
        while True:
            asked = time.time()
            if await trio.to_thread.run_sync(self.stagings.states.take, self.upload_id, holder, LEASE_TTL):
                self.holder, self.expires = holder, asked + LEASE_TTL
                break
            await trio.sleep(pause)
            pause = min(pause * 2, LOCK_POLL_MAX)
        loaded = await trio.to_thread.run_sync(self.stagings.load, self.upload_id)
        if loaded is not None and loaded.generation == self.state.generation:
            self.state = loaded  # what the previous holder left
            self._tail = None

    def is_current(self) -> bool:
        loaded = self.stagings.load(self.upload_id)
        return loaded is not None and loaded.generation == self.state.generation

    def trim(self, size: int) -> None:
        # Read the state again: assembling it for a digest or a commit (by the store) changed it.
        loaded = self.stagings.load(self.upload_id)
        if loaded is None or loaded.generation != self.state.generation:
            return  # committed or discarded meanwhile: nothing of ours left to cut
        before, assembled = self.state.top, loaded.assembled
        self.state = self.stagings.cut(self.upload_id, loaded, size)
        if self.state.top != before or assembled:
            self._tail = None

    async def append(self, offset: int, chunks: list[bytes], size: int, hasher: Any | None) -> None:
        if not chunks:
            return
        await trio.to_thread.run_sync(self._append, offset, chunks, size, hasher)

    def _append(self, offset: int, chunks: list[bytes], size: int, hasher: Any | None) -> None:
        stagings = self.stagings
        if self.state.assembled or offset != self.state.top["size"]:
            self.trim(offset)
        if self.state.assembled:  # hashed or committed meanwhile: appendable again from what it holds
            self.state = stagings.reopen(self.upload_id, self.state, self.state.top["size"])
            self._tail = None
        state = self.state
        self._renew()
        if hasher is not None:
            for chunk in chunks:
                hasher.update(chunk)
        if self._tail is None:
            self._tail = stagings.tail_bytes(state.top)
        pending = memoryview(self._tail + b"".join(chunks))
        while len(pending) >= PART_MIN:
            take = len(pending) if len(pending) < 2 * PART_TARGET else PART_TARGET
            stagings.add_part(self.upload_id, state, bytes(pending[:take]))
            pending = pending[take:]
        rest = bytes(pending)
        dropped = {state.top["tail"]} - {state.base["tail"], None}
        state.top = Checkpoint(size=offset + size, parts=len(state.parts), tail=stagings.put_tail(self.upload_id, rest))
        stagings.save(self.upload_id, state, {key for key in dropped if key})
        self._tail = rest

    def _renew(self) -> None:
        if self.holder is not None and self.expires - time.time() < LEASE_TTL / 2:
            asked = time.time()
            if not self.stagings.states.renew(self.upload_id, self.holder, LEASE_TTL):
                raise OSError(f"upload {self.upload_id}: another holder took its lease over")
            self.expires = asked + LEASE_TTL

    def close(self) -> None:
        if self.holder is not None:
            holder, self.holder = self.holder, None
            self.stagings.states.release(self.upload_id, holder)

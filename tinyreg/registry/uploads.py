"""Blob upload sessions: started → receiving → committed | cancelled | expired.

An open session is one `uploads` row (repository, size, timestamps) and one staging file.
The live sha256 of each session is kept in memory while its bytes arrive; when it is gone
(a restart, another worker, a sha512 digest) the staging file is re-hashed before commit,
so the client's digest is never trusted.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, NoReturn, TypeVar

import trio

from tinyreg.registry.accounting import Accounting
from tinyreg.registry.aliases import upload_cancelled
from tinyreg.registry.blobs import link_blob
from tinyreg.registry.errors import RegistryError
from tinyreg.registry.events import BLOB_MEDIA_TYPE, PUSH, Origin, Subject
from tinyreg.registry.names import UPLOAD_ID_RE, Digest, check_upload_id
from tinyreg.registry.notifier import Notifier
from tinyreg.registry.offload import call_meta, call_store, call_stores
from tinyreg.registry.ranges import check_chunk_start
from tinyreg.registry.whole_bodies import check_whole, read_whole, takes_whole
from tinyreg.storage.interfaces import BlobStore, MetaStore, MetaWriter, StagingFile, UploadRow

WRITE_BUFFER = 4 * 1024 * 1024
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Upload:
    """The state of one open upload session."""

    id: str
    repo: str
    size: int
    started: float
    updated: float

    def expired(self, now: float, ttl: float) -> bool:
        """True when nothing has touched the session for `ttl` seconds."""
        return now - self.updated > ttl

    def to_row(self) -> UploadRow:
        return {"repo": self.repo, "size": self.size, "started": self.started, "updated": self.updated}

    @classmethod
    def from_row(cls, upload_id: str, row: UploadRow) -> Upload:
        return cls(upload_id, str(row["repo"]), int(row["size"]), float(row["started"]), float(row["updated"]))


def _check_open(tx: MetaWriter, upload: Upload) -> UploadRow:
    """The session's row; BLOB_UPLOAD_UNKNOWN unless it is still open (not cancelled, not moved) in this unit of work."""
    row = tx.upload(upload.id)
    if row is None:
        raise RegistryError("BLOB_UPLOAD_UNKNOWN", "the upload was cancelled meanwhile")
    if "moved_to" in row:
        raise RegistryError(
            "BLOB_UPLOAD_UNKNOWN",
            upload_cancelled(upload.repo, row["moved_to"]),
            detail={"upload": upload.id, "moved_to": row["moved_to"]},
        )
    return row


class _LiveHash:
    """A running sha256 of a session's bytes and how many bytes it has seen."""

    __slots__ = ("hasher", "offset")

    def __init__(self) -> None:
        self.hasher = Digest("sha256", "").hasher()
        self.offset = 0


class Uploads:
    """Open, feed, finish and cancel upload sessions."""

    def __init__(
        self, meta: MetaStore, store: BlobStore, accounting: Accounting | None = None, notifier: Notifier | None = None
    ) -> None:
        self.meta = meta
        self.store = store
        self.accounting = accounting or Accounting()
        self.notifier = notifier or Notifier(meta)
        self._live: dict[str, _LiveHash] = {}
        self._locks: dict[str, trio.Lock] = {}

    async def _store(self, function: Callable[..., T], *args: Any) -> T:
        return await call_store(self.store, function, *args)

    async def _meta(self, function: Callable[..., T], *args: Any) -> T:
        return await call_meta(self.meta, function, *args)

    async def _both(self, function: Callable[..., T], *args: Any) -> T:
        return await call_stores(self.meta, self.store, function, *args)

    # -- session rows ---------------------------------------------------------------------

    def start(self, repo: str) -> Upload:
        """Open a new, empty session for `repo`."""
        now = time.time()
        upload = Upload(uuid.uuid4().hex, repo, 0, now, now)
        self.store.create_staging(upload.id)
        self.meta.write(lambda tx: tx.put_upload(upload.id, upload.to_row()))
        self._live[upload.id] = _LiveHash()
        return upload

    def get(self, repo: str, upload_id: str) -> Upload:
        """The open session `upload_id` of `repo`, or BLOB_UPLOAD_UNKNOWN."""
        check_upload_id(upload_id)
        with self.meta.read() as tx:
            row = tx.upload(upload_id)
        if row is None or row["repo"] != repo:
            raise RegistryError("BLOB_UPLOAD_UNKNOWN", detail={"upload": upload_id})
        if "moved_to" in row:
            raise RegistryError(
                "BLOB_UPLOAD_UNKNOWN",
                upload_cancelled(repo, row["moved_to"]),
                detail={"upload": upload_id, "moved_to": row["moved_to"]},
            )
        return Upload.from_row(upload_id, row)

    def check_not_moved(self, repo: str, upload_id: str) -> None:
        """BLOB_UPLOAD_UNKNOWN naming the new name if a move cancelled this session of `repo`
        (only who holds the session's id learns it); nothing otherwise."""
        if UPLOAD_ID_RE.fullmatch(upload_id):
            with self.meta.read() as tx:
                row = tx.upload(upload_id)
            if row is not None and row["repo"] == repo and "moved_to" in row:
                raise RegistryError(
                    "BLOB_UPLOAD_UNKNOWN",
                    upload_cancelled(repo, row["moved_to"]),
                    detail={"upload": upload_id, "moved_to": row["moved_to"]},
                )

    def status(self, repo: str, upload_id: str) -> Upload:
        """The open session, checked against its staging file (a crash may have taken it)."""
        upload = self.get(repo, upload_id)
        if not self.store.has_staging(upload_id):
            self._data_gone(upload_id)
        return upload

    def _data_gone(self, upload_id: str) -> NoReturn:
        """End a session whose staging file is gone. A crash between moving finished bytes
        into place and recording them leaves such a session; nothing proves which digest
        those bytes were verified as, so the client pushes again (and finds the blob there)."""
        self._drop(upload_id)
        raise RegistryError("BLOB_UPLOAD_UNKNOWN", "the upload's data is gone", detail={"upload": upload_id})

    def _save(self, upload: Upload) -> None:

        def change(tx: MetaWriter) -> None:
            _check_open(tx, upload)
            tx.put_upload(upload.id, upload.to_row())

        self.meta.write(change)

    @asynccontextmanager
    async def _session(self, repo: str, upload_id: str) -> AsyncIterator[tuple[Upload, StagingFile | None]]:
        """Hold a session exclusively, in this process (a trio lock) and across workers (the
        staging file's lock), and read its state under that hold.

        Yields the session and its staging file, open (None when the file is gone).
        """
        await self._meta(self.get, repo, upload_id)  # an unknown id costs nothing below
        lock = self._locks.setdefault(upload_id, trio.Lock())
        try:
            async with lock:
                file = await self._store(self.store.open_staging, upload_id)
                try:
                    if file is not None:
                        await file.lock()
                    upload = await self._meta(self.get, repo, upload_id)  # read again: another worker may have moved on
                    if file is not None and not await self._store(file.is_current):
                        await self._store(file.close)  # it was finished and moved into place while we waited
                        file = None
                    if file is not None:
                        await self._store(file.trim, upload.size)  # bytes a killed worker wrote but never recorded
                    yield upload, file
                finally:
                    if file is not None:
                        with trio.CancelScope(shield=True):  # release the lease even when cancelled
                            await self._store(file.close)
        finally:
            if not lock.locked() and lock.statistics().tasks_waiting == 0:
                self._locks.pop(upload_id, None)

    # -- receiving bytes ------------------------------------------------------------------

    async def append(
        self,
        repo: str,
        upload_id: str,
        body: AsyncIterator[bytes],
        *,
        content_range: str | None = None,
        content_length: int | None = None,
    ) -> Upload:
        """Append one chunk (streamed) to the session; return its new state."""
        async with self._session(repo, upload_id) as (upload, file):
            if file is None:
                self._data_gone(upload_id)
            expected = check_chunk_start(content_range, upload.size, content_length)
            if expected is not None:
                await self._meta(self._check_limit, repo, None, upload.size + expected)
            written = await self._receive(upload, file, body, expected)
            upload = Upload(upload.id, repo, upload.size + written, upload.started, time.time())
            await self._meta(self._save, upload)
            return upload

    async def _receive(self, upload: Upload, file: StagingFile, body: AsyncIterator[bytes], expected: int | None) -> int:
        live = self._live.get(upload.id)
        if live is not None and live.offset != upload.size:
            del self._live[upload.id]
            live = None
        if live is None and upload.size == 0:
            live = self._live[upload.id] = _LiveHash()
        written = 0
        try:
            pending: list[bytes] = []
            pending_size = 0
            async for chunk in body:
                pending.append(chunk)
                pending_size += len(chunk)
                written += len(chunk)
                if expected is not None and written > expected:
                    raise RegistryError("SIZE_INVALID", f"chunk is longer than the {expected} bytes announced")
                if pending_size >= WRITE_BUFFER:
                    await file.append(upload.size + written - pending_size, pending, pending_size, live.hasher if live else None)
                    pending, pending_size = [], 0
            if expected is not None and written != expected:
                raise RegistryError("SIZE_INVALID", f"chunk holds {written} bytes, {expected} were announced")
            await file.append(upload.size + written - pending_size, pending, pending_size, live.hasher if live else None)
        except BaseException:
            self._live.pop(upload.id, None)
            with trio.CancelScope(shield=True):
                await self._store(file.trim, upload.size)  # a failed chunk leaves the session as it was
            raise
        if live is not None:
            live.offset += written
        return written

    # -- finishing --------------------------------------------------------------------------

    async def finish(
        self,
        repo: str,
        upload_id: str,
        digest: Digest,
        body: AsyncIterator[bytes] | None = None,
        *,
        content_range: str | None = None,
        content_length: int | None = None,
        origin: Origin | None = None,
    ) -> int:
        """Append an optional last chunk, verify `digest`, and make the blob visible in `repo`.

        Returns the blob's size. On a digest mismatch the session is dropped: DIGEST_INVALID.
        """
        if body is not None and takes_whole(self.store.remote, content_length, content_range):
            upload = await self._meta(self.get, repo, upload_id)
            if upload.size == 0 and content_length is not None:
                return await self._finish_whole(upload, digest, body, content_length, origin)
        async with self._session(repo, upload_id) as (upload, file):
            if file is None:
                self._data_gone(upload_id)
            recorded = upload.size
            try:
                if body is not None:
                    expected = check_chunk_start(content_range, upload.size, content_length)
                    await self._meta(self._check_limit, repo, str(digest), upload.size + (expected or 0))
                    written = await self._receive(upload, file, body, expected)
                    upload = Upload(upload.id, repo, upload.size + written, upload.started, time.time())
                actual = await self._digest_of(upload, digest.algorithm)
                if actual != digest:
                    await self._both(self._drop, upload.id)
                    raise RegistryError(
                        "DIGEST_INVALID", f"upload has digest {actual}, not {digest}", detail={"digest": str(digest)}
                    )
                await trio.to_thread.run_sync(self.store.commit, upload.id, digest)
                await self._both(self._link_committed, upload, digest, origin)  # its unit of work asks the store for the size
            except BaseException:
                # Undo what this request did: its bytes were never recorded (unless they are a
                # blob now, and then the session is over), and the live hash has seen them.
                self._live.pop(upload.id, None)
                with trio.CancelScope(shield=True):  # undo even when the request was cancelled
                    if await self._store(file.is_current):
                        await self._store(file.trim, recorded)
                    else:
                        await self._both(self._drop, upload.id)
                raise
            self._live.pop(upload.id, None)
            return upload.size

    async def _finish_whole(
        self, upload: Upload, digest: Digest, body: AsyncIterator[bytes], length: int, origin: Origin | None
    ) -> int:
        """Finish a session that holds no bytes with a body read whole (see `whole_bodies`); its
        staging, never written to, is discarded once the blob is linked."""
        try:
            await self._meta(self._check_limit, upload.repo, str(digest), length)
            data = await read_whole(body, length)
            await check_whole(data, digest)
        except RegistryError as error:
            if error.code == "DIGEST_INVALID":
                await self._both(self._drop, upload.id)
            raise
        await self._store(self.store.put, data, digest)
        await self._both(
            self._link_committed, Upload(upload.id, upload.repo, length, upload.started, time.time()), digest, origin, 0
        )
        self._live.pop(upload.id, None)
        with trio.CancelScope(shield=True):
            await self._store(self.store.discard, upload.id)
        return length

    async def put_whole(self, repo: str, digest: Digest, body: AsyncIterator[bytes], length: int, origin: Origin | None) -> int:
        """A monolithic upload read whole (see `whole_bodies`): no session at all. Its size."""
        await self._meta(self._check_limit, repo, str(digest), length)
        data = await read_whole(body, length)
        await check_whole(data, digest)
        await self._store(self.store.put, data, digest)
        await self._both(self._link_sent, repo, digest, length, origin)
        return length

    def _check_limit(self, repo: str, digest: str | None, size: int) -> None:
        """DENIED before the bytes are read if the blob would take its project over the size limit."""
        with self.meta.read() as tx:
            self.accounting.check_upload(tx, repo, digest, size)

    async def _digest_of(self, upload: Upload, algorithm: str) -> Digest:
        live = self._live.get(upload.id)
        if algorithm == "sha256" and live is not None and live.offset == upload.size:
            return Digest("sha256", live.hasher.hexdigest())
        return await trio.to_thread.run_sync(self.store.staging_digest, upload.id, algorithm)

    def _link_committed(self, upload: Upload, digest: Digest, origin: Origin | None, recorded: int | None = None) -> None:
        """Link the blob and end the session; with `recorded`, only if the session still holds
        that many bytes (a body read whole passed by its staging: a chunk another request added
        meanwhile would be lost silently otherwise)."""

        def change(tx: MetaWriter) -> None:
            row = _check_open(tx, upload)  # a move may have cancelled it while its bytes were checked
            if recorded is not None and int(row["size"]) != recorded:
                raise RegistryError("BLOB_UPLOAD_INVALID", "another request added bytes to the upload meanwhile")
            self._record_push(tx, upload.repo, digest, upload.size, origin)
            tx.delete_upload(upload.id)

        self.meta.write(change)

    def _link_sent(self, repo: str, digest: Digest, size: int, origin: Origin | None) -> None:
        self.meta.write(lambda tx: self._record_push(tx, repo, digest, size, origin))

    def _record_push(self, tx: MetaWriter, repo: str, digest: Digest, size: int, origin: Origin | None) -> None:
        link_blob(self.store, tx, repo, digest, size)
        self.notifier.record(tx, Subject(PUSH, "blob", repo, str(digest), BLOB_MEDIA_TYPE, size), origin)

    # -- ending without a blob --------------------------------------------------------------

    async def cancel(self, repo: str, upload_id: str) -> None:
        """Cancel an open session and remove its bytes."""
        async with self._session(repo, upload_id):
            await self._both(self._drop, upload_id)

    def discard(self, upload_id: str) -> None:
        """Forget a session if it is still open (no error when it is already gone)."""
        self._drop(upload_id)

    def _drop(self, upload_id: str) -> None:
        self.meta.write(lambda tx: tx.delete_upload(upload_id))
        self.store.discard(upload_id)
        self._live.pop(upload_id, None)

    def expire(self, ttl: float, now: float | None = None) -> list[str]:
        """Drop sessions idle for more than `ttl` seconds and staging files without a session."""
        now = time.time() if now is None else now
        with self.meta.read() as tx:
            rows = {upload_id: Upload.from_row(upload_id, row) for upload_id, row in tx.iter_uploads()}
        stale = [u.id for u in rows.values() if u.expired(now, ttl) and self._idle(u.id, now, ttl)]
        for upload_id in stale:
            self._drop(upload_id)
        for upload_id in self.store.staging_ids():
            if upload_id not in rows and self._idle(upload_id, now, ttl):
                self.store.discard(upload_id)
                stale.append(upload_id)
        return stale

    def _idle(self, upload_id: str, now: float, ttl: float) -> bool:
        """No request of this process holds the session, and no worker wrote to it for `ttl`:
        a long chunk keeps touching the staging file, whichever worker receives it."""
        lock = self._locks.get(upload_id)
        if lock is not None and lock.locked():
            return False
        return self.store.staging_idle(upload_id, now, ttl)

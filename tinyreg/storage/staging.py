"""Upload staging files: lock across processes, write and hash, trim, hash (`FileStagingFile`).

Blocking calls that may take long run in a worker thread; waiting for another worker's lock
polls, so a cancelled request stops waiting at once and holds no thread meanwhile.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import Any

import trio

from tinyreg.digest import Digest

READ_CHUNK = 1024 * 1024
INLINE_WRITE = 256 * 1024  # smaller writes are cheaper than a hop to a worker thread
IOV_MAX = 512  # buffers per writev call, well under the system's limit
LOCK_POLL_MAX = 0.05


class FileStagingFile:
    """An open staging file (see `tinyreg.storage.interfaces.StagingFile`)."""

    __slots__ = ("fd", "path", "position")

    def __init__(self, fd: int, path: Path) -> None:
        self.fd = fd
        self.path = path
        self.position = -1  # the file offset after our last write, to seek only when it differs

    async def lock(self) -> None:
        await lock(self.fd)

    def is_current(self) -> bool:
        return is_file_at(self.fd, self.path)

    def trim(self, size: int) -> None:
        trim(self.fd, size)

    async def append(self, offset: int, chunks: list[bytes], size: int, hasher: Any | None) -> None:
        if self.position != offset:
            os.lseek(self.fd, offset, os.SEEK_SET)
        self.position = -1  # unknown should the write fail half-way
        await write(self.fd, chunks, size, hasher)
        self.position = offset + size

    def close(self) -> None:
        os.close(self.fd)


async def lock(fd: int) -> None:
    """Take an exclusive `flock` on a staging file, waiting (cancellably) while another has it."""
    pause = 0.001
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            await trio.sleep(pause)
            pause = min(pause * 2, LOCK_POLL_MAX)


def is_locked(path: Path) -> bool:
    """True when some process (another worker, say) holds the staging file's lock now."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing releases the lock we may have taken
    return False


def is_file_at(fd: int, path: Path) -> bool:
    """True when `fd` is still the file at `path` (not moved into the blob store meanwhile)."""
    try:
        return os.fstat(fd).st_ino == path.stat().st_ino
    except FileNotFoundError:
        return False


def trim(fd: int, size: int) -> None:
    """Cut a staging file back to the `size` bytes its session recorded."""
    if os.fstat(fd).st_size != size:
        os.ftruncate(fd, size)


async def write(fd: int, chunks: list[bytes], size: int, hasher: Any | None) -> None:
    """Write `chunks` (`size` bytes in all) at the file's position and feed them to `hasher`."""
    if not chunks:
        return
    if size < INLINE_WRITE:
        _write_and_hash(fd, chunks, hasher)
    else:
        await trio.to_thread.run_sync(_write_and_hash, fd, chunks, hasher)


def _write_and_hash(fd: int, chunks: list[bytes], hasher: Any | None) -> None:
    """Write the chunks as they came (no joining copy), then hash them in place."""
    views = [memoryview(chunk) for chunk in chunks]
    while views:
        done = os.writev(fd, views[:IOV_MAX])
        while views and done >= len(views[0]):
            done -= len(views.pop(0))
        if done:
            views[0] = views[0][done:]
    if hasher is not None:
        for chunk in chunks:
            hasher.update(chunk)


def digest_of_file(path: os.PathLike[str] | str, algorithm: str) -> Digest:
    """The digest of a whole file, read in large chunks."""
    hasher = Digest(algorithm, "").hasher()
    with open(path, "rb", buffering=0) as file:
        while chunk := file.read(READ_CHUNK):
            hasher.update(chunk)
    return Digest(algorithm, hasher.hexdigest())

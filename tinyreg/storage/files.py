"""Blobs and upload staging files as files under the data directory: the `BlobStore` on disk.

Layout::

    blobs/<algorithm>/<ab>/<cd>/<encoded>    one file per digest, whatever the repositories
    uploads/<upload id>                      bytes of an upload in progress
    trash/<algorithm>-<encoded>              blobs a garbage collection has set aside
    gc.lock                                  held by the garbage collection running now

Everything here is blocking file I/O: callers run it in a worker thread when it may be slow.
A finished upload becomes a blob by `commit`: fsync the file, rename it into place, fsync the
directory. A crash leaves either no blob file or a complete one; a staging file left behind is
swept when its upload expires. Files are owner-only (see `tinyreg.storage.private`).
"""

from __future__ import annotations

import fcntl
import os
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from tinyreg.digest import Digest
from tinyreg.storage import private, staging
from tinyreg.storage.interfaces import BlobFile, CollectionRunning
from tinyreg.storage.staging import READ_CHUNK, FileStagingFile, digest_of_file

__all__ = ["READ_CHUNK", "FileBlobStore"]

ASIDE_NAME = re.compile(r"sha256-[a-f0-9]{64}|sha512-[a-f0-9]{128}")


class FileBlobStore:
    """Blobs as files sharded by digest under `root/blobs`, staging files under `root/uploads`."""

    remote = False

    def __init__(self, root: Path) -> None:
        self.root = root
        self.blobs = root / "blobs"
        self.uploads = root / "uploads"
        self.trash = root / "trash"
        private.make_dir(self.blobs)
        private.make_dir(self.uploads)

    def path(self, digest: Digest) -> Path:
        """Where the bytes of `digest` live (the digest is already validated as hex)."""
        hex_ = digest.encoded
        return self.blobs / digest.algorithm / hex_[:2] / hex_[2:4] / hex_

    # -- blobs ------------------------------------------------------------------------------

    def size(self, digest: Digest) -> int | None:
        try:
            return os.stat(self.path(digest)).st_size
        except FileNotFoundError:
            return None

    def open(self, digest: Digest) -> BinaryIO:
        return open(self.path(digest), "rb", buffering=0)

    def read_range(self, digest: Digest, start: int, length: int) -> bytes:
        with self.open(digest) as file:
            file.seek(start)
            return file.read(length)

    def url(self, digest: Digest) -> str | None:
        return None  # files are served by the registry itself

    def put(self, data: bytes, digest: Digest) -> None:
        staging_id = uuid.uuid4().hex
        fd = private.create_file(self.staging_path(staging_id))
        with os.fdopen(fd, "wb") as file:
            file.write(data)
        self.commit(staging_id, digest)

    def delete(self, digest: Digest) -> bool:
        try:
            os.unlink(self.path(digest))
        except FileNotFoundError:
            return False
        return True

    # -- staging files ----------------------------------------------------------------------

    def check_writable(self) -> int:
        # At the top of blobs/: no listing of blobs or uploads sees it (blobs live a level down).
        probe = self.blobs / f".probe-{os.getpid()}-{uuid.uuid4().hex}"
        fd = private.create_file(probe)
        try:
            os.write(fd, b"probe")
            os.fsync(fd)
        finally:
            os.close(fd)
            probe.unlink(missing_ok=True)
        usage = os.statvfs(self.blobs)
        return usage.f_bavail * usage.f_frsize

    def staging_path(self, upload_id: str) -> Path:
        return self.uploads / upload_id

    def create_staging(self, upload_id: str) -> None:
        os.close(private.create_file(self.staging_path(upload_id)))

    def open_staging(self, upload_id: str) -> FileStagingFile | None:
        path = self.staging_path(upload_id)
        try:
            return FileStagingFile(os.open(path, os.O_RDWR), path)
        except FileNotFoundError:
            return None

    def has_staging(self, upload_id: str) -> bool:
        return self.staging_path(upload_id).exists()

    def staging_digest(self, upload_id: str, algorithm: str) -> Digest:
        return digest_of_file(self.staging_path(upload_id), algorithm)

    def staging_idle(self, upload_id: str, now: float, ttl: float) -> bool:
        path = self.staging_path(upload_id)
        try:
            return now - os.stat(path).st_mtime > ttl and not staging.is_locked(path)
        except FileNotFoundError:
            return True

    def commit(self, upload_id: str, digest: Digest) -> None:
        """Move a verified staging file into the blob path, durably."""
        source = self.staging_path(upload_id)
        target = self.path(digest)
        if target.exists():
            source.unlink(missing_ok=True)
            return
        fd = os.open(source, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        private.make_dir(target.parent)
        os.replace(source, target)
        fsync_dir(target.parent)

    def discard(self, upload_id: str) -> None:
        self.staging_path(upload_id).unlink(missing_ok=True)

    def staging_ids(self) -> list[str]:
        """Ids of every staging file on disk."""
        return [entry.name for entry in os.scandir(self.uploads) if entry.is_file()]

    # -- garbage collection -----------------------------------------------------------------

    @contextmanager
    def collection_lock(self) -> Iterator[None]:
        fd = os.open(self.root / "gc.lock", os.O_RDWR | os.O_CREAT, private.FILE_MODE)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise CollectionRunning("another garbage collection is running on this data directory") from None
            yield
        finally:
            os.close(fd)

    def iter_blob_files(self) -> Iterator[BlobFile]:
        for algorithm in os.scandir(self.blobs):
            for root, _, names in os.walk(algorithm.path):
                for name in names:
                    try:
                        found = os.stat(os.path.join(root, name))
                    except FileNotFoundError:
                        continue
                    yield BlobFile(f"{algorithm.name}:{name}", found.st_size, found.st_mtime)

    def _aside(self, name: str) -> Path:
        return self.trash / name.replace(":", "-")

    def _home(self, name: str) -> Path:
        algorithm, _, encoded = name.partition(":")
        return self.blobs / algorithm / encoded[:2] / encoded[2:4] / encoded

    def set_aside(self, name: str) -> bool:
        private.make_dir(self.trash)
        try:
            os.replace(self._home(name), self._aside(name))
        except FileNotFoundError:
            return False
        return True

    def put_back(self, name: str) -> None:
        home = self._home(name)
        private.make_dir(home.parent)
        os.replace(self._aside(name), home)

    def drop_aside(self, name: str) -> None:
        self._aside(name).unlink(missing_ok=True)

    def restore_aside(self) -> int:
        restored = 0
        if self.trash.is_dir():
            for entry in os.scandir(self.trash):
                if ASIDE_NAME.fullmatch(entry.name) is None:
                    continue
                self.put_back(entry.name.replace("-", ":", 1))
                restored += 1
        return restored


def fsync_dir(path: Path) -> None:
    """Make a rename or unlink in `path` durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

"""Content-addressed blob files and upload staging files.

Layout under the data directory::

    blobs/<algorithm>/<ab>/<cd>/<encoded>    one file per digest, whatever the repositories
    uploads/<upload id>                      bytes of an upload in progress

Everything here is blocking file I/O: callers run it in a worker thread when it may be slow.
A finished upload becomes a blob by `commit`: fsync the file, rename it into place, fsync the
directory. A crash leaves either no blob file or a complete one; a staging file left behind is
swept when its upload expires.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import BinaryIO, Protocol

from tinyreg.digest import Digest
from tinyreg.storage.meta import fsync_dir

READ_CHUNK = 1024 * 1024


class BlobStore(Protocol):
    """What the registry needs of a place that keeps blob bytes."""

    def size(self, digest: Digest) -> int | None: ...
    def open(self, digest: Digest) -> BinaryIO: ...
    def staging_path(self, upload_id: str) -> Path: ...
    def commit(self, upload_id: str, digest: Digest) -> None: ...
    def discard(self, upload_id: str) -> None: ...


class FileBlobStore:
    """Blobs as files sharded by digest under `root/blobs`, staging files under `root/uploads`."""

    def __init__(self, root: Path) -> None:
        self.blobs = root / "blobs"
        self.uploads = root / "uploads"
        self.blobs.mkdir(parents=True, exist_ok=True)
        self.uploads.mkdir(parents=True, exist_ok=True)

    def path(self, digest: Digest) -> Path:
        """Where the bytes of `digest` live (the digest is already validated as hex)."""
        hex_ = digest.encoded
        return self.blobs / digest.algorithm / hex_[:2] / hex_[2:4] / hex_

    def size(self, digest: Digest) -> int | None:
        try:
            return self.path(digest).stat().st_size
        except FileNotFoundError:
            return None

    def open(self, digest: Digest) -> BinaryIO:
        return open(self.path(digest), "rb", buffering=0)

    def staging_path(self, upload_id: str) -> Path:
        return self.uploads / upload_id

    def create_staging(self, upload_id: str) -> None:
        self.staging_path(upload_id).touch(exist_ok=False)

    def commit(self, upload_id: str, digest: Digest) -> None:
        """Move a verified staging file into the blob path, durably."""
        staging = self.staging_path(upload_id)
        target = self.path(digest)
        if target.exists():
            staging.unlink(missing_ok=True)
            return
        fd = os.open(staging, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(staging, target)
        fsync_dir(target.parent)

    def discard(self, upload_id: str) -> None:
        self.staging_path(upload_id).unlink(missing_ok=True)

    def staging_ids(self) -> list[str]:
        """Ids of every staging file on disk."""
        return [entry.name for entry in os.scandir(self.uploads) if entry.is_file()]

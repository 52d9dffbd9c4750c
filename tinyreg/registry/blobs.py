"""Blob reads, deletes and cross-repository mounts.

A blob is stored once, but it is readable only through a repository it is linked to, so
content cannot leak from one repository to another by guessing a digest.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any, BinaryIO

from tinyreg.registry.errors import RegistryError
from tinyreg.registry.names import Digest
from tinyreg.storage import keys
from tinyreg.storage.blobs import FileBlobStore
from tinyreg.storage.meta import Meta


@dataclass(frozen=True, slots=True)
class BlobRef:
    """Where to read a blob of a repository: a file, or (for a manifest fetched as a blob) bytes."""

    digest: Digest
    size: int
    data: bytes | None = None


class Blobs:
    """The blob operations of the registry."""

    def __init__(self, meta: Meta, store: FileBlobStore) -> None:
        self.meta = meta
        self.store = store

    def find(self, repo: str, digest: Digest) -> BlobRef:
        """The blob `digest` as linked in `repo`, or BLOB_UNKNOWN.

        Manifests of the repository are blobs too, as clients sometimes fetch them that way.
        """
        name = str(digest)
        with self.meta.read() as txn:
            link = self.meta.get(txn, "links", keys.repo_key(repo, name))
            if link is not None:
                return BlobRef(digest, link["size"])
            row = self.meta.get(txn, "manifests", keys.repo_key(repo, name))
            if row is not None:
                data = manifest_bytes(self.meta, txn, name, row)
                if data is not None:
                    return BlobRef(digest, len(data), data)
        raise RegistryError("BLOB_UNKNOWN", detail={"digest": name})

    def open(self, blob: BlobRef) -> BinaryIO:
        """The blob's file, opened for reading; BLOB_UNKNOWN if its bytes are gone."""
        try:
            return self.store.open(blob.digest)
        except FileNotFoundError:
            raise _bytes_missing(blob.digest) from None

    def check_stored(self, blob: BlobRef) -> None:
        """BLOB_UNKNOWN unless the blob's bytes are there (a HEAD reads no file to find out).

        A link can outlive its file only while a garbage collection has the file aside."""
        if blob.data is None and self.store.size(blob.digest) is None:
            raise _bytes_missing(blob.digest)

    def delete(self, repo: str, digest: Digest) -> None:
        """Unlink the blob from `repo`; its bytes stay for other repositories until collected."""
        key = keys.repo_key(repo, str(digest))

        def change(txn):  # type: ignore[no-untyped-def]
            if not self.meta.delete(txn, "links", key):
                raise RegistryError("BLOB_UNKNOWN", detail={"digest": str(digest)})

        self.meta.write(change)

    def put_bytes(self, repo: str, data: bytes) -> Digest:
        """Store a small blob given whole and link it into `repo` (for tests and tools, not HTTP)."""
        digest = Digest.of(data)
        staging_id = uuid.uuid4().hex
        path = self.store.staging_path(staging_id)
        path.write_bytes(data)
        self.store.commit(staging_id, digest)
        self.meta.write(lambda txn: link_blob(self.meta, self.store, txn, repo, digest, len(data)))
        return digest

    def mount(self, repo: str, digest: Digest, source: str) -> int | None:
        """Link a blob of `source` into `repo` without moving bytes; its size, or None if not there."""
        name = str(digest)

        def change(txn):  # type: ignore[no-untyped-def]
            link = self.meta.get(txn, "links", keys.repo_key(source, name))
            if link is None or self.meta.get(txn, "blobs", name.encode()) is None or self.store.size(digest) is None:
                return None
            self.meta.put(txn, "links", keys.repo_key(repo, name), {**link, "created": time.time()})
            ensure_repo(self.meta, txn, repo)
            return int(link["size"])

        return self.meta.write(change)


def _bytes_missing(digest: Digest) -> RegistryError:
    return RegistryError("BLOB_UNKNOWN", "blob data is missing from storage", detail={"digest": str(digest)})


def ensure_repo(meta: Meta, txn: Any, repo: str) -> None:
    """Record that `repo` exists (it then shows in the catalog)."""
    if txn.get(repo.encode(), db=meta.db["repos"]) is None:
        meta.put(txn, "repos", repo.encode(), {"created": time.time()})


def manifest_bytes(meta: Meta, txn: Any, digest: str, row: dict[str, Any]) -> bytes | None:
    """The bytes of a repository's manifest: its own copy (signed schema 1), else the shared one."""
    data = row.get("data")
    if data is not None:
        return bytes(data)
    stored = txn.get(digest.encode(), db=meta.db["manifest_data"])
    return bytes(stored) if stored is not None else None


def link_blob(meta: Meta, store: FileBlobStore, txn: Any, repo: str, digest: Digest, size: int) -> None:
    """Record a stored blob and make it readable through `repo` (inside a write transaction).

    The file is checked inside the transaction: garbage collection moves a file away before
    its own transaction decides, so a blob is never linked while its bytes are being collected.
    """
    if store.size(digest) != size:
        raise RegistryError("BLOB_UPLOAD_INVALID", "the blob was being collected meanwhile; push it again")
    name = str(digest).encode()
    if txn.get(name, db=meta.db["blobs"]) is None:
        meta.put(txn, "blobs", name, {"size": size, "created": time.time()})
    meta.put(txn, "links", keys.repo_key(repo, str(digest)), {"size": size, "created": time.time()})
    ensure_repo(meta, txn, repo)

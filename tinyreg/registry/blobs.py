"""Blob reads, deletes and cross-repository mounts.

A blob is stored once, but it is readable only through a repository it is linked to, so
content cannot leak from one repository to another by guessing a digest.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import BinaryIO

from tinyreg.registry.aliases import in_force, refuse_if_moved
from tinyreg.registry.errors import RegistryError
from tinyreg.registry.events import BLOB_MEDIA_TYPE, MOUNT, PULL, Origin, Subject
from tinyreg.registry.names import Digest
from tinyreg.registry.notifier import Notifier
from tinyreg.storage.interfaces import BlobStore, FoundBlob, ManifestRow, MetaReader, MetaStore, MetaWriter


@dataclass(frozen=True, slots=True)
class BlobRef:
    """Where to read a blob of a repository: a file, or (for a manifest fetched as a blob) bytes."""

    digest: Digest
    size: int
    data: bytes | None = None


class Blobs:
    """The blob operations of the registry."""

    def __init__(self, meta: MetaStore, store: BlobStore, notifier: Notifier | None = None) -> None:
        self.meta = meta
        self.store = store
        self.notifier = notifier or Notifier(meta)

    def find(self, repo: str, digest: Digest) -> BlobRef:
        """The blob `digest` as linked in `repo`, or BLOB_UNKNOWN.

        Manifests of the repository are blobs too, as clients sometimes fetch them that way.
        """
        return _blob_ref(self.meta.find_blob(repo, str(digest)), digest)

    async def serve(self, name: str, digest: Digest) -> tuple[str, BlobRef]:
        """What a GET or HEAD of `name`'s blob answers, and the repository it is from: the old name
        of a moved repository answers for the new one. One call of the metadata store (one round
        trip on a database, from the event loop) unless the name did move."""
        found = await self.meta.afind_blob(name, str(digest))
        if in_force(found.alias, time.time()):
            assert found.alias is not None
            name = found.alias["target"]
            found = await self.meta.afind_blob(name, str(digest))
        return name, _blob_ref(found, digest)

    def pulled(self, repo: str, blob: BlobRef, origin: Origin) -> None:
        """Note the pull of a blob for its event."""
        self.notifier.note_pull(Subject(PULL, "blob", repo, str(blob.digest), BLOB_MEDIA_TYPE, blob.size), origin)

    def open(self, blob: BlobRef) -> BinaryIO:
        """The blob's file, opened for reading; BLOB_UNKNOWN if its bytes are gone."""
        try:
            return self.store.open(blob.digest)
        except FileNotFoundError:
            raise _bytes_missing(blob.digest) from None

    def url(self, blob: BlobRef) -> str | None:
        """Where clients may fetch the blob's bytes directly (a presigned URL), or None."""
        return None if blob.data is not None else self.store.url(blob.digest)

    def check_stored(self, blob: BlobRef) -> None:
        """BLOB_UNKNOWN unless the blob's bytes are there (a HEAD reads no file to find out).

        A link can outlive its file only while a garbage collection has the file aside."""
        if blob.data is None and self.store.size(blob.digest) is None:
            raise _bytes_missing(blob.digest)

    def delete(self, repo: str, digest: Digest) -> None:
        """Unlink the blob from `repo`; its bytes stay for other repositories until collected."""

        def change(tx: MetaWriter) -> None:
            if not tx.delete_link(repo, str(digest)):
                raise RegistryError("BLOB_UNKNOWN", detail={"digest": str(digest)})

        self.meta.write(change)

    def put_bytes(self, repo: str, data: bytes) -> Digest:
        """Store a small blob given whole and link it into `repo` (for tests and tools, not HTTP)."""
        digest = Digest.of(data)
        self.store.put(data, digest)
        self.meta.write(lambda tx: link_blob(self.store, tx, repo, digest, len(data)))
        return digest

    def mount(self, repo: str, digest: Digest, source: str, origin: Origin | None = None) -> int | None:
        """Link a blob of `source` into `repo` without moving bytes; its size, or None if not there."""
        name = str(digest)

        def change(tx: MetaWriter) -> int | None:
            refuse_if_moved(tx, repo)
            link = tx.link(source, name)
            if link is None or tx.blob(name) is None or self.store.size(digest) is None:
                return None
            tx.put_link(repo, name, {**link, "created": time.time()})
            tx.ensure_repository(repo)
            size = int(link["size"])
            self.notifier.record(tx, Subject(MOUNT, "blob", repo, name, BLOB_MEDIA_TYPE, size, from_repository=source), origin)
            return size

        return self.meta.write(change)


def _blob_ref(found: FoundBlob, digest: Digest) -> BlobRef:
    if found.size is not None:
        return BlobRef(digest, found.size)
    if found.manifest is not None:
        return BlobRef(digest, len(found.manifest), found.manifest)
    raise RegistryError("BLOB_UNKNOWN", detail={"digest": str(digest)})


def _bytes_missing(digest: Digest) -> RegistryError:
    return RegistryError("BLOB_UNKNOWN", "blob data is missing from storage", detail={"digest": str(digest)})


def manifest_bytes(tx: MetaReader, digest: str, row: ManifestRow) -> bytes | None:
    """The bytes of a repository's manifest: its own copy (signed schema 1), else the shared one."""
    data = row.get("data")
    if data is not None:
        return bytes(data)
    return tx.manifest_data(digest)


def link_blob(store: BlobStore, tx: MetaWriter, repo: str, digest: Digest, size: int) -> None:
    """Record a stored blob and make it readable through `repo` (inside a unit of work).

    The bytes are checked inside the unit of work: garbage collection sets a blob aside before
    its own unit of work decides, so a blob is never linked while its bytes are being collected.
    """
    refuse_if_moved(tx, repo)
    if store.size(digest) != size:
        raise RegistryError("BLOB_UPLOAD_INVALID", "the blob was being collected meanwhile; push it again")
    now = time.time()
    name = str(digest)
    tx.put_blob(name, {"size": size, "created": now})
    tx.put_link(repo, name, {"size": size, "created": now})
    tx.ensure_repository(repo)

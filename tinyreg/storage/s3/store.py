"""Blobs in an S3 bucket: the `BlobStore` of `--blobs s3://bucket/prefix`.

Layout under the prefix::

    blobs/<algorithm>/<ab>/<encoded>     one object per digest, whatever the repositories
    staging/<upload id>/...              the bytes of uploads in progress (see `tinyreg.storage.s3.stagings`;
                                         their state is in the metadata store)
    aside/<algorithm>-<encoded>          blobs a garbage collection has set aside
    gc-lease                             held by the garbage collection running now

A blob's object is written whole (PutObject, or a server-side copy of a verified upload), so
readers see either no blob or a complete one. Calls block on the network: callers in async
code run them in worker threads (`remote` tells them so).
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, BinaryIO

from tinyreg.digest import Digest
from tinyreg.storage.interfaces import BlobFile, CollectionRunning
from tinyreg.storage.s3.client import ensure_bucket, make_client
from tinyreg.storage.s3.leases import Lease, Leases
from tinyreg.storage.s3.location import S3Location, S3Options
from tinyreg.storage.s3.objects import Objects
from tinyreg.storage.s3.staging_file import S3StagingFile
from tinyreg.storage.s3.stagings import Stagings
from tinyreg.storage.staging_states import StagingStates

#: S3 has no notion of free space: `check_writable` answers this (1 EiB) so no free-space floor trips.
UNKNOWN_FREE_BYTES = 1 << 60
GC_LEASE_TTL = 300.0  # renewed by the collection's store calls; one killed mid-way blocks the next this long at most
URL_TTL = 300  # seconds a presigned GET stays valid
BLOB_KEY = re.compile(r"(sha256|sha512)/[a-f0-9]{2}/([a-f0-9]+)")


class S3BlobStore:
    """Blobs as objects of one bucket under a prefix; staging uploads as multipart uploads whose
    states are kept in `states` (the metadata store every node shares)."""

    remote = True

    def __init__(self, url: str, options: S3Options | None = None, client: Any = None, *, states: StagingStates) -> None:
        self.location = S3Location.parse(url)
        resolved = (options or S3Options()).resolved()
        self.client = client if client is not None else make_client(resolved)
        ensure_bucket(self.client, self.location.bucket, resolved.region)
        self.objects = Objects(self.client, self.location.bucket)
        self.leases = Leases(self.client, self.location.bucket)
        self.stagings = Stagings(self.objects, states, self.location)
        self._gc_lease: Lease | None = None

    def key(self, digest: Digest) -> str:
        hex_ = digest.encoded
        return self.location.key("blobs", digest.algorithm, hex_[:2], hex_)

    # -- blobs ------------------------------------------------------------------------------

    def size(self, digest: Digest) -> int | None:
        return self.objects.size(self.key(digest))

    def open(self, digest: Digest) -> BinaryIO:
        return self.objects.open(self.key(digest))  # type: ignore[return-value]  # a RawIOBase reads like a binary file

    def read_range(self, digest: Digest, start: int, length: int) -> bytes:
        return self.objects.get_range(self.key(digest), start, length)

    def url(self, digest: Digest) -> str | None:
        """A presigned GET of the blob, valid for a few minutes (clients follow the registry's redirect to it)."""
        params = {"Bucket": self.location.bucket, "Key": self.key(digest)}
        return str(self.client.generate_presigned_url("get_object", Params=params, ExpiresIn=URL_TTL))

    def put(self, data: bytes, digest: Digest) -> None:
        self.objects.put(self.key(digest), data)

    def delete(self, digest: Digest) -> bool:
        key = self.key(digest)
        if self.objects.head(key) is None:
            return False
        self.objects.delete(key)
        return True

    def check_writable(self) -> int:
        """Put and remove a probe beside the blobs; S3 does not say how much space is left."""
        probe = self.location.key(f"probe-{uuid.uuid4().hex}")
        try:
            self.objects.put(probe, b"probe")
            self.objects.delete(probe)
        except Exception as exc:  # botocore's errors are not OSErrors: the readiness check expects one
            raise OSError(f"cannot write to s3://{self.location.bucket}/{self.location.prefix}: {exc}") from exc
        return UNKNOWN_FREE_BYTES

    # -- staging uploads ---------------------------------------------------------------------

    def create_staging(self, upload_id: str) -> None:
        self.stagings.create(upload_id)

    def open_staging(self, upload_id: str) -> S3StagingFile | None:
        loaded = self.stagings.load(upload_id)
        return None if loaded is None else S3StagingFile(self.stagings, upload_id, loaded)

    def has_staging(self, upload_id: str) -> bool:
        return self.stagings.states.get(upload_id) is not None

    def staging_digest(self, upload_id: str, algorithm: str) -> Digest:
        return self.stagings.digest(upload_id, algorithm)

    def staging_idle(self, upload_id: str, now: float, ttl: float) -> bool:
        return self.stagings.idle(upload_id, now, ttl)

    def commit(self, upload_id: str, digest: Digest) -> None:
        """Copy the assembled, verified upload to the blob's key, then remove the staging."""
        target = self.key(digest)
        if self.objects.head(target) is None:
            source, size = self.stagings.assemble(upload_id)
            if source is None:
                self.objects.put(target, b"")
            else:
                self.objects.copy(source, target, size)
            made = self.objects.size(target)
            if made != size:
                raise OSError(f"blob {digest} was copied as {made} bytes, not {size}")
        self.stagings.discard(upload_id)

    def discard(self, upload_id: str) -> None:
        self.stagings.discard(upload_id)

    def staging_ids(self) -> list[str]:
        return self.stagings.ids()

    # -- garbage collection -------------------------------------------------------------------

    @contextmanager
    def collection_lock(self) -> Iterator[None]:
        lease = self.leases.take(self.location.key("gc-lease"), GC_LEASE_TTL)
        if lease is None:
            raise CollectionRunning(
                f"another garbage collection is running on s3://{self.location.bucket}/{self.location.prefix}"
            )
        self._gc_lease = lease
        try:
            yield
        finally:
            self._gc_lease = None
            self.leases.release(lease)

    def _keep_collecting(self) -> None:
        """Renew the collection's lease once half of it has passed (S3 cannot tell a dead holder)."""
        lease = self._gc_lease
        if lease is not None and lease.expires - time.time() < GC_LEASE_TTL / 2:
            if not self.leases.renew(lease, GC_LEASE_TTL):
                raise CollectionRunning("the garbage collection's lease expired and was taken over")

    def iter_blob_files(self) -> Iterator[BlobFile]:
        root = self.location.key("blobs") + "/"
        for found in self.objects.listing(root):
            self._keep_collecting()
            matched = BLOB_KEY.fullmatch(found["Key"][len(root) :])
            if matched is not None:
                yield BlobFile(f"{matched[1]}:{matched[2]}", int(found["Size"]), found["LastModified"].timestamp())

    def _aside(self, name: str) -> str:
        return self.location.key("aside", name.replace(":", "-"))

    def _home(self, name: str) -> str:
        algorithm, _, encoded = name.partition(":")
        return self.location.key("blobs", algorithm, encoded[:2], encoded)

    def _move(self, source: str, target: str) -> bool:
        self._keep_collecting()
        size = self.objects.size(source)
        if size is None:
            return False
        self.objects.copy(source, target, size)
        self.objects.delete(source)
        return True

    def set_aside(self, name: str) -> bool:
        return self._move(self._home(name), self._aside(name))

    def put_back(self, name: str) -> None:
        if not self._move(self._aside(name), self._home(name)):
            raise FileNotFoundError(f"blob {name} is not aside")

    def drop_aside(self, name: str) -> None:
        self.objects.delete(self._aside(name))

    def restore_aside(self) -> int:
        root = self.location.key("aside") + "/"
        restored = 0
        for found in list(self.objects.listing(root)):
            algorithm, _, encoded = found["Key"][len(root) :].partition("-")
            if BLOB_KEY.fullmatch(f"{algorithm}/{encoded[:2]}/{encoded}"):
                self.put_back(f"{algorithm}:{encoded}")
                restored += 1
        return restored

"""Leases in S3: who runs the garbage collection of a bucket's blobs, across processes and nodes.

(Uploads are held through their state's row in the metadata store, see `tinyreg.storage.staging_states`.)

S3 has no locks, but it has conditional writes: a lease is a small object created with
`If-None-Match: *` (only one creator wins), renewed and taken over with `If-Match: <etag>` (only
one of several takers wins), and removed by its holder. It names its holder and when it
expires: a holder killed mid-task never releases it, so another may take it over once expired.

Ceph RGW 16 compares `If-Match` with the ETag *without* its quotes (a quoted one never matches),
so the bare form is sent; S3 itself accepts both.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from tinyreg.storage.s3.client import is_not_found, is_precondition_failed


@dataclass
class Lease:
    """A lease this process holds (or held): its object, our holder id and the ETag we last wrote."""

    key: str
    holder: str
    etag: str
    expires: float


class Leases:
    """Take, renew, release and look at lease objects of one bucket."""

    def __init__(self, client: Any, bucket: str) -> None:
        self.client = client
        self.bucket = bucket

    def _put(self, key: str, holder: str, ttl: float, **condition: str) -> Lease:
        expires = time.time() + ttl
        body = json.dumps({"holder": holder, "expires": expires}).encode()
        answer = self.client.put_object(Bucket=self.bucket, Key=key, Body=body, **condition)
        return Lease(key, holder, answer["ETag"].strip('"'), expires)

    def take(self, key: str, ttl: float) -> Lease | None:
        """Hold the lease for `ttl` seconds, or None while another holds it (unexpired)."""
        holder = uuid.uuid4().hex
        try:
            return self._put(key, holder, ttl, IfNoneMatch="*")
        except ClientError as exc:
            if not is_precondition_failed(exc):
                raise
        found = self._get(key)
        if found is None:
            return None  # released meanwhile: the caller tries again
        row, etag = found
        if row.get("expires", 0) > time.time():
            return None
        try:
            return self._put(key, holder, ttl, IfMatch=etag)  # take over an expired lease: one taker wins
        except ClientError as exc:
            if is_precondition_failed(exc) or is_not_found(exc):
                return None
            raise

    def renew(self, lease: Lease, ttl: float) -> bool:
        """Extend our lease; False when it was taken over (it had expired) or removed."""
        try:
            renewed = self._put(lease.key, lease.holder, ttl, IfMatch=lease.etag)
        except ClientError as exc:
            if is_precondition_failed(exc) or is_not_found(exc):
                return False
            raise
        lease.etag, lease.expires = renewed.etag, renewed.expires
        return True

    def release(self, lease: Lease) -> None:
        """Remove the lease if it is still ours."""
        found = self._get(lease.key)
        if found is not None and found[0].get("holder") == lease.holder:
            self.client.delete_object(Bucket=self.bucket, Key=lease.key)

    def is_held(self, key: str) -> bool:
        """Someone holds this lease now (it exists and has not expired)."""
        found = self._get(key)
        return found is not None and found[0].get("expires", 0) > time.time()

    def _get(self, key: str) -> tuple[dict[str, Any], str] | None:
        try:
            answer = self.client.get_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if is_not_found(exc):
                return None
            raise
        try:
            row = json.loads(answer["Body"].read())
        except ValueError:
            row = {}  # a torn or foreign object: treat as expired
        return (row if isinstance(row, dict) else {}), answer["ETag"].strip('"')

"""What only S3 has, against the session's Ceph gateway: leases on conditional writes (what stands
in for locks there), and multipart uploads holding parts nobody recorded."""

from __future__ import annotations

import hashlib
import os
import uuid

import pytest
import trio
from tinyreg.digest import Digest
from tinyreg.storage.interfaces import StagingFile
from tinyreg.storage.s3.location import S3Options
from tinyreg.storage.s3.store import S3BlobStore

from tests.servers.ceph import CephGateway

from .backends import S3_TIMEOUT

MiB = 1024 * 1024
UPLOAD = "5" * 32


def open_store(gateway: CephGateway) -> S3BlobStore:
    options = S3Options(gateway.endpoint, gateway.region, "auto", gateway.access_key, gateway.secret_key, S3_TIMEOUT, S3_TIMEOUT)
    return S3BlobStore(f"s3://tinyreg-specifics/{uuid.uuid4().hex}", options)


async def _append(store: S3BlobStore, offset: int, data: bytes) -> None:
    file: StagingFile | None = store.open_staging(UPLOAD)
    assert file is not None
    try:
        await file.lock()
        file.trim(offset)
        await file.append(offset, [data], len(data), None)
    finally:
        file.close()


@pytest.mark.parametrize("then", [MiB, 6 * MiB], ids=["tail-after", "part-after"])
def test_a_part_a_killed_holder_uploaded_without_recording_it_is_left_out_of_the_blob(ceph_rgw: CephGateway, then: int) -> None:
    """Ceph completes a multipart upload only with all its parts: the stray one must not end up in the blob."""
    store = open_store(ceph_rgw)
    first, stray, rest = os.urandom(6 * MiB), os.urandom(6 * MiB), os.urandom(then)
    store.create_staging(UPLOAD)
    trio.run(_append, store, 0, first)
    unsaved = store.stagings.state(UPLOAD)
    store.stagings.add_part(UPLOAD, unsaved, stray)  # killed before saving the state that names it
    trio.run(_append, store, len(first), rest)
    digest = store.staging_digest(UPLOAD, "sha256")
    assert digest == Digest("sha256", hashlib.sha256(first + rest).hexdigest())
    store.commit(UPLOAD, digest)
    with store.open(digest) as blob:
        assert blob.read() == first + rest
    assert store.staging_ids() == []


def test_a_lease_has_one_holder_is_taken_over_once_expired_and_renewed_only_by_its_holder(ceph_rgw: CephGateway) -> None:
    leases = open_store(ceph_rgw).leases
    key = f"leases/{uuid.uuid4().hex}"

    first = leases.take(key, 60)
    assert first is not None and leases.is_held(key)
    assert leases.take(key, 60) is None  # one holder at a time
    assert leases.renew(first, 60)
    leases.release(first)
    assert not leases.is_held(key)

    dead = leases.take(key, -1)  # a holder whose lease ran out (killed, say)
    assert dead is not None and not leases.is_held(key)
    taker = leases.take(key, 60)
    assert taker is not None and taker.holder != dead.holder
    assert not leases.renew(dead, 60)  # taken over: the old holder learns it lost the lease
    leases.release(dead)  # and cannot remove the new holder's
    assert leases.is_held(key) and leases.take(key, 60) is None
    leases.release(taker)
    assert not leases.is_held(key)

"""Leases on S3 conditional writes (what stands in for locks there), against the session's Ceph gateway."""

from __future__ import annotations

import uuid

from tinyreg.storage.s3.location import S3Options
from tinyreg.storage.s3.store import S3BlobStore

from tests.servers.ceph import CephGateway

from .backends import S3_TIMEOUT


def test_a_lease_has_one_holder_is_taken_over_once_expired_and_renewed_only_by_its_holder(ceph_rgw: CephGateway) -> None:
    options = S3Options(
        ceph_rgw.endpoint, ceph_rgw.region, "auto", ceph_rgw.access_key, ceph_rgw.secret_key, S3_TIMEOUT, S3_TIMEOUT
    )
    leases = S3BlobStore(f"s3://tinyreg-leases/{uuid.uuid4().hex}", options).leases
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

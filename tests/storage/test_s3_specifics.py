"""What only S3 has, against the session's Ceph gateway: leases on conditional writes (what stands
in for the garbage collection's lock there), multipart uploads holding parts nobody recorded, and
uploads whose state is in the metadata store, continued by another node sharing it."""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import trio
from tinyreg.digest import Digest
from tinyreg.storage.interfaces import MetaStore, StagingFile
from tinyreg.storage.opening import open_meta
from tinyreg.storage.s3.location import S3Options
from tinyreg.storage.s3.stagings import StagingChanged
from tinyreg.storage.s3.store import S3BlobStore
from tinyreg.storage.staging_states import MetaStagingStates

from tests.servers.ceph import CephGateway
from tests.servers.postgres import PostgresCluster

from .backends import S3_TIMEOUT

MiB = 1024 * 1024
UPLOAD = "5" * 32


@pytest.fixture
def meta(tmp_path: Path) -> Iterator[MetaStore]:
    opened = open_meta(tmp_path / "data")
    yield opened
    opened.close()


@pytest.fixture
def nodes(postgres_cluster: PostgresCluster, ceph_rgw: CephGateway, tmp_path: Path) -> Iterator[tuple[S3BlobStore, S3BlobStore]]:
    """Two nodes of one registry: each with its own connections to the database and its own S3
    client, sharing the database and the bucket's prefix."""
    database = postgres_cluster.fresh_database()
    metas = [open_meta(tmp_path / name, database) for name in ("one", "two")]
    url = f"s3://tinyreg-specifics/{uuid.uuid4().hex}"
    stores = open_store(ceph_rgw, metas[0], url), open_store(ceph_rgw, metas[1], url)
    try:
        yield stores
    finally:
        for upload_id in stores[0].staging_ids():  # the gateway keeps objects in RAM for the whole session
            stores[0].discard(upload_id)
        for opened in metas:
            opened.close()
        postgres_cluster.drop_database(database)


def open_store(gateway: CephGateway, meta: MetaStore, url: str = "") -> S3BlobStore:
    options = S3Options(gateway.endpoint, gateway.region, "auto", gateway.access_key, gateway.secret_key, S3_TIMEOUT, S3_TIMEOUT)
    return S3BlobStore(url or f"s3://tinyreg-specifics/{uuid.uuid4().hex}", options, states=MetaStagingStates(meta))


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
def test_a_part_a_killed_holder_uploaded_without_recording_it_is_left_out_of_the_blob(
    ceph_rgw: CephGateway, meta: MetaStore, then: int
) -> None:
    """Ceph completes a multipart upload only with all its parts: the stray one must not end up in the blob."""
    store = open_store(ceph_rgw, meta)
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


def test_a_lease_has_one_holder_is_taken_over_once_expired_and_renewed_only_by_its_holder(
    ceph_rgw: CephGateway, meta: MetaStore
) -> None:
    leases = open_store(ceph_rgw, meta).leases
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


def _names_in_bucket(store: S3BlobStore, upload_id: str) -> set[str]:
    folder = store.stagings.folder(upload_id)
    return {found["Key"][len(folder) :] for found in store.objects.listing(folder)}


def test_an_upload_keeps_its_state_in_the_metadata_store_and_goes_on_on_another_node(
    nodes: tuple[S3BlobStore, S3BlobStore],
) -> None:
    one, two = nodes
    part, tail, rest = os.urandom(6 * MiB), os.urandom(MiB), os.urandom(2 * MiB)
    one.create_staging(UPLOAD)
    trio.run(_append, one, 0, part)  # a part of the multipart upload
    trio.run(_append, one, len(part), tail)  # and the bytes after it
    names = _names_in_bucket(one, UPLOAD)
    assert len(names) == 1 and names.pop().startswith("tail-")  # only bytes: no `state`, no `lease` object
    row = two.stagings.states.get(UPLOAD)  # through the other node's own connection to the database
    assert row is not None and row["state"]["upload"] and row["state"]["top"]["size"] == len(part + tail)
    assert two.has_staging(UPLOAD) and two.staging_ids() == [UPLOAD]

    trio.run(_append, two, len(part + tail), rest)
    digest = Digest("sha256", hashlib.sha256(part + tail + rest).hexdigest())
    assert one.staging_digest(UPLOAD, "sha256") == digest  # assembled by the first from what the second recorded
    two.commit(UPLOAD, digest)
    with one.open(digest) as blob:
        assert blob.read() == part + tail + rest
    assert one.stagings.states.get(UPLOAD) is None and one.staging_ids() == [] and _names_in_bucket(one, UPLOAD) == set()


def test_a_node_that_lost_an_upload_to_another_cannot_write_over_what_that_one_recorded(
    nodes: tuple[S3BlobStore, S3BlobStore],
) -> None:
    one, two = nodes
    first_bytes, taken_over, late = os.urandom(3000), os.urandom(4000), os.urandom(5000)
    one.create_staging(UPLOAD)

    async def stalled_then_late() -> None:
        first = one.open_staging(UPLOAD)
        assert first is not None and first.holder is None
        await first.lock()
        await first.append(0, [first_bytes], len(first_bytes), None)
        assert not await trio.to_thread.run_sync(two.stagings.states.take, UPLOAD, "two", 60.0)  # held by the first
        one.stagings.states.take(UPLOAD, str(first.holder), -1)  # the first stalls past its lease
        await _append(two, len(first_bytes), taken_over)  # the second takes the upload over and goes on
        with pytest.raises(StagingChanged):
            await first.append(len(first_bytes), [late], len(late), None)  # the first wakes up: refused
        first.close()

    trio.run(stalled_then_late)
    expected = first_bytes + taken_over
    assert two.staging_digest(UPLOAD, "sha256") == Digest("sha256", hashlib.sha256(expected).hexdigest())


def test_a_staging_folder_left_without_a_state_is_listed_idle_and_discarded(ceph_rgw: CephGateway, meta: MetaStore) -> None:
    """What an older tinyreg left (its state and lease were objects), or a discard cut short, goes on expiry."""
    store = open_store(ceph_rgw, meta)
    for name in ("state", "lease", "tail-0"):
        store.objects.put(store.stagings.key(UPLOAD, name), b"{}")
    store.create_staging("6" * 32)
    assert store.staging_ids() == [UPLOAD, "6" * 32] and not store.has_staging(UPLOAD)
    assert store.staging_idle(UPLOAD, 0.0, 3600)  # no state: nothing to wait for
    store.discard(UPLOAD)
    store.discard("6" * 32)
    assert store.staging_ids() == [] and _names_in_bucket(store, UPLOAD) == set()


def test_a_discard_removes_what_the_state_names_and_expiry_sweeps_what_a_killed_holder_left(
    ceph_rgw: CephGateway, meta: MetaStore
) -> None:
    """A discard makes only the requests the upload's state calls for; a tail object or a
    multipart upload written by a holder killed before saving it is found later by `staging_ids`
    (a folder or an upload without a state) and swept then."""
    store = open_store(ceph_rgw, meta)
    store.create_staging(UPLOAD)
    trio.run(_append, store, 0, b"recorded")
    stray = store.stagings.key(UPLOAD, "tail-stray")
    store.objects.put(stray, b"written, never saved")
    other = "7" * 32
    store.create_staging(other)
    started = store.client.create_multipart_upload(Bucket=store.stagings.bucket, Key=store.stagings.key(other, "data"))
    assert started["UploadId"]

    store.discard(UPLOAD)
    store.discard(other)
    assert _names_in_bucket(store, UPLOAD) == {"tail-stray"}  # the recorded tail went at once
    assert store.staging_ids() == [UPLOAD, other]  # neither has a state now, both are listed
    assert store.staging_idle(UPLOAD, 0.0, 3600) and store.staging_idle(other, 0.0, 3600)
    for upload_id in store.staging_ids():
        store.discard(upload_id)
    assert store.staging_ids() == [] and _names_in_bucket(store, UPLOAD) == set()


def _count_get_object_calls(store: S3BlobStore) -> list[str]:
    """The keys of the GetObject calls the store's boto3 client makes from now on."""
    calls: list[str] = []
    store.client.meta.events.register("before-call.s3.GetObject", lambda params, **_: calls.append(params["url_path"]))
    return calls


def test_a_blob_is_read_through_a_presigned_url_and_through_get_object_when_that_cannot_answer(
    ceph_rgw: CephGateway, meta: MetaStore
) -> None:
    """Whole-object reads skip botocore's per-call work; a missing object, and an endpoint the
    presigned path cannot reach (here: a closed port), go through GetObject, which reads or says why."""
    from tinyreg.storage.s3.client import make_client
    from tinyreg.storage.s3.presigned_reads import PresignedReads

    store = open_store(ceph_rgw, meta)
    data = os.urandom(3 * MiB + 5)
    store.put(data, Digest.of(data))
    calls = _count_get_object_calls(store)
    with store.open(Digest.of(data)) as stream:
        assert stream.read() == data
    assert calls == [] and store.objects.presigned.enabled
    with pytest.raises(FileNotFoundError):
        store.open(Digest.of(b"never stored"))
    assert len(calls) == 1 and store.objects.presigned.enabled  # an answer, not a failure to connect

    unreachable = S3Options("http://127.0.0.1:9", ceph_rgw.region, "auto", ceph_rgw.access_key, ceph_rgw.secret_key, 2.0, 2.0)
    store.objects.presigned = PresignedReads(make_client(unreachable), store.location.bucket)
    with store.open(Digest.of(data)) as stream:
        assert stream.read() == data
    assert len(calls) == 2 and not store.objects.presigned.enabled

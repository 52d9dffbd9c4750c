"""The blob store's contract: blobs by digest, staging files of uploads, and what GC needs."""

from __future__ import annotations

import hashlib
import multiprocessing
import os
from collections.abc import Awaitable, Callable

import httpx
import pytest
import trio
from tinyreg.digest import Digest
from tinyreg.storage.interfaces import BlobStore, CollectionRunning, StagingFile

from .backends import Backend, open_backend, open_blob_store

UPLOAD = "0123456789abcdef" * 2


def test_a_blob_put_is_read_back_whole_and_by_range(backend: Backend) -> None:
    blobs = backend.blobs
    data = bytes(range(256)) * 10
    digest = Digest.of(data)
    assert blobs.size(digest) is None
    with pytest.raises(FileNotFoundError):
        blobs.open(digest)
    blobs.put(data, digest)
    blobs.put(data, digest)  # again: no change, no error
    assert blobs.size(digest) == len(data)
    with blobs.open(digest) as file:
        assert file.read() == data
    assert blobs.read_range(digest, 100, 50) == data[100:150]
    assert blobs.read_range(digest, len(data) - 3, 50) == data[-3:]
    assert blobs.staging_ids() == []
    assert blobs.delete(digest) is True and blobs.delete(digest) is False
    assert blobs.size(digest) is None


def test_a_staging_file_is_appended_trimmed_hashed_and_committed(backend: Backend) -> None:
    blobs = backend.blobs
    blobs.create_staging(UPLOAD)
    with pytest.raises(FileExistsError):
        blobs.create_staging(UPLOAD)
    assert blobs.has_staging(UPLOAD) and blobs.staging_ids() == [UPLOAD]
    hasher = hashlib.sha256()

    async def feed() -> None:
        file = blobs.open_staging(UPLOAD)
        assert file is not None
        try:
            await file.lock()
            await file.append(0, [b"hello ", b"world"], 11, hasher)
            await file.append(11, [b" and more"], 9, None)
            file.trim(11)  # the second chunk was never recorded
            await file.append(11, [b"!"], 1, hasher)
            assert file.is_current()
        finally:
            file.close()

    trio.run(feed)
    digest = Digest("sha256", hasher.hexdigest())
    assert digest == Digest.of(b"hello world!")
    assert blobs.staging_digest(UPLOAD, "sha256") == digest
    assert blobs.staging_digest(UPLOAD, "sha512") == Digest.of(b"hello world!", "sha512")
    blobs.commit(UPLOAD, digest)
    assert not blobs.has_staging(UPLOAD) and blobs.open_staging(UPLOAD) is None
    assert blobs.read_range(digest, 0, 100) == b"hello world!"
    blobs.commit(UPLOAD, digest)  # committing again is harmless


def test_a_staging_file_committed_meanwhile_is_no_longer_current(backend: Backend) -> None:
    blobs = backend.blobs
    blobs.create_staging(UPLOAD)
    file = blobs.open_staging(UPLOAD)
    assert file is not None
    try:
        blobs.commit(UPLOAD, Digest.of(b""))
        assert not file.is_current()
    finally:
        file.close()


def test_staging_files_are_discarded_and_idle_ones_told_apart(backend: Backend) -> None:
    import time

    blobs = backend.blobs
    for upload_id in ("c" * 32, "d" * 32):
        blobs.create_staging(upload_id)
    assert sorted(blobs.staging_ids()) == ["c" * 32, "d" * 32]
    now = time.time()
    assert not blobs.staging_idle("c" * 32, now, 3600)
    assert blobs.staging_idle("c" * 32, now + 7200, 3600)
    blobs.discard("c" * 32)
    blobs.discard("c" * 32)
    assert blobs.staging_ids() == ["d" * 32]
    assert blobs.staging_idle("c" * 32, now, 3600)  # gone: nothing to wait for


def test_a_staging_file_held_by_another_process_is_not_idle(backend: Backend) -> None:
    import time

    backend.blobs.create_staging(UPLOAD)
    ctx = multiprocessing.get_context("spawn")
    ready, done = ctx.Event(), ctx.Event()
    child = ctx.Process(target=_hold_staging, args=(backend.kind, backend.location, ready, done))
    child.start()
    try:
        assert ready.wait(60)
        assert not backend.blobs.staging_idle(UPLOAD, time.time() + 7200, 3600)
    finally:
        done.set()
        child.join(60)
    assert backend.blobs.staging_idle(UPLOAD, time.time() + 7200, 3600)


def _hold_staging(kind: str, location: str, ready, done) -> None:  # type: ignore[no-untyped-def]
    opened = open_backend(kind, location)
    file = opened.blobs.open_staging(UPLOAD)
    assert file is not None
    trio.run(file.lock)
    ready.set()
    done.wait(60)
    file.close()


def test_blobs_set_aside_are_out_of_reach_until_put_back_or_restored(backend: Backend) -> None:
    blobs = backend.blobs
    kept, dropped, restored = (Digest.of(data) for data in (b"kept", b"dropped", b"restored"))
    for digest, data in ((kept, b"kept"), (dropped, b"dropped"), (restored, b"restored")):
        blobs.put(data, digest)
    listed = {blob.digest: blob.size for blob in blobs.iter_blob_files()}
    assert listed == {str(kept): 4, str(dropped): 7, str(restored): 8}
    with blobs.collection_lock():
        for digest in (kept, dropped, restored):
            assert blobs.set_aside(str(digest)) is True
        assert blobs.set_aside(str(kept)) is False  # already aside
        assert all(blobs.size(d) is None for d in (kept, dropped, restored))
        assert list(blobs.iter_blob_files()) == []
        blobs.put_back(str(kept))
        blobs.drop_aside(str(dropped))
    assert blobs.size(kept) == 4 and blobs.size(dropped) is None
    assert blobs.restore_aside() == 1  # what an interrupted collection left aside
    assert blobs.read_range(restored, 0, 100) == b"restored"
    assert blobs.restore_aside() == 0


def test_one_collection_at_a_time(backend: Backend) -> None:
    with backend.blobs.collection_lock():
        ctx = multiprocessing.get_context("spawn")
        with ctx.Pool(1) as pool:
            assert pool.apply(_try_collection_lock, (backend.kind, backend.location)) == "running"
    with ctx.Pool(1) as pool:
        assert pool.apply(_try_collection_lock, (backend.kind, backend.location)) == "taken"


def _try_collection_lock(kind: str, location: str) -> str:
    opened = open_backend(kind, location)
    try:
        with opened.blobs.collection_lock():
            return "taken"
    except CollectionRunning:
        return "running"
    finally:
        opened.close()


def test_a_writable_store_says_how_much_space_is_free_and_leaves_nothing_behind(backend: Backend) -> None:
    blobs = backend.blobs
    assert blobs.check_writable() > 0
    assert blobs.check_writable() > 0  # again: the probe of the first look is gone
    assert blobs.staging_ids() == []
    assert list(blobs.iter_blob_files()) == []


MiB = 1024 * 1024


async def _session(blobs: BlobStore, steps: Callable[[StagingFile], Awaitable[None]]) -> None:
    """What one upload request does: open the staging file, hold it, work, close it."""
    file = blobs.open_staging(UPLOAD)
    assert file is not None
    try:
        await file.lock()
        await steps(file)
    finally:
        file.close()


def test_a_staging_file_of_several_parts_is_cut_back_hashed_and_continued_after_hashing(backend: Backend) -> None:
    """Sizes past S3's 5 MiB part minimum: a chunk that failed is cut off across a part, the digest
    is read back, then more bytes come (and are cut off again) before the commit."""
    blobs = backend.blobs
    a, b, c = os.urandom(3 * MiB), os.urandom(4 * MiB), os.urandom(6 * MiB)
    blobs.create_staging(UPLOAD)

    async def first(file: StagingFile) -> None:
        await file.append(0, [a], len(a), None)

    async def failed(file: StagingFile) -> None:
        file.trim(len(a))
        await file.append(len(a), [b], len(b), None)
        await file.append(len(a + b), [c], len(c), None)
        file.trim(len(a))  # the chunk was never recorded

    async def second(file: StagingFile) -> None:
        file.trim(len(a))
        await file.append(len(a), [c[:100], c[100:]], len(c), None)

    async def after_hashing(file: StagingFile) -> None:
        file.trim(len(a + c))
        await file.append(len(a + c), [b], len(b), None)

    async def cut_after_hashing(file: StagingFile) -> None:
        file.trim(len(a + c))

    for steps in (first, failed, second):
        trio.run(_session, blobs, steps)
    assert blobs.staging_digest(UPLOAD, "sha256") == Digest.of(a + c)
    trio.run(_session, blobs, after_hashing)
    assert blobs.staging_digest(UPLOAD, "sha512") == Digest.of(a + c + b, "sha512")
    trio.run(_session, blobs, cut_after_hashing)
    digest = blobs.staging_digest(UPLOAD, "sha256")
    assert digest == Digest.of(a + c)
    blobs.commit(UPLOAD, digest)
    assert blobs.size(digest) == len(a + c) and blobs.staging_ids() == []
    with blobs.open(digest) as file:
        file.seek(len(a) - 10)
        assert file.read(20) == (a + c)[len(a) - 10 : len(a) + 10]
        file.seek(0)
        assert file.read() == a + c


def test_an_upload_continues_through_another_opening_of_the_store(backend: Backend) -> None:
    """Nothing of an upload lives only in the memory of the process that received it."""
    head, rest = os.urandom(MiB + 7), os.urandom(2 * MiB)
    backend.blobs.create_staging(UPLOAD)

    async def write_head(file: StagingFile) -> None:
        await file.append(0, [head], len(head), None)

    async def write_rest(file: StagingFile) -> None:
        file.trim(len(head))
        await file.append(len(head), [rest], len(rest), None)

    trio.run(_session, backend.blobs, write_head)
    trio.run(_session, open_blob_store(backend.kind, backend.location, backend.meta), write_rest)
    digest = Digest.of(head + rest)
    assert backend.blobs.staging_digest(UPLOAD, "sha256") == digest
    backend.blobs.commit(UPLOAD, digest)
    assert backend.blobs.read_range(digest, len(head) - 2, 4) == (head + rest)[len(head) - 2 : len(head) + 2]


def test_a_blob_url_is_absent_or_serves_the_bytes_and_ranges(backend: Backend) -> None:
    blobs = backend.blobs
    data = os.urandom(3000)
    digest = Digest.of(data)
    blobs.put(data, digest)
    url = blobs.url(digest)
    if url is None:
        assert not blobs.remote  # a store that serves no URLs: the registry streams the bytes
        return
    assert httpx.get(url, timeout=30).content == data
    part = httpx.get(url, headers={"Range": "bytes=10-19"}, timeout=30)
    assert part.status_code == 206 and part.content == data[10:20]
    assert httpx.get(url + "x", timeout=30).status_code == 403  # the signature covers the URL

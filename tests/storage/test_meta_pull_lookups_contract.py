"""The metadata store's contract for `find_manifest` and `find_blob`: what a manifest or blob GET reads in one call."""

from __future__ import annotations

from functools import partial

import pytest
import trio
from tinyreg.storage.interfaces import AliasRow, FoundBlob, FoundManifest, ManifestRow, MetaWriter

from .backends import Backend

SHARED, OWN, ELSEWHERE = ("sha256:" + c * 64 for c in "123")
MOVED: AliasRow = {"kind": "repository", "target": "team/new", "created": 1.0, "expires": 2.0}


def _row(data: bytes | None = None) -> ManifestRow:
    row: ManifestRow = {"media_type": "application/vnd.oci.image.manifest.v1+json", "size": 3, "artifact_type": None,
                        "subject": None, "annotations": None, "refs": [], "created": 1.0}  # fmt: skip
    if data is not None:  # a signed schema 1 manifest keeps its own copy
        row["media_type"] = "application/vnd.docker.distribution.manifest.v1+prettyjws"
        row["data"] = data
    return row


def _fill(tx: MetaWriter) -> None:
    tx.ensure_repository("team/app")
    tx.put_manifest("team/app", SHARED, b"one", _row())
    tx.put_manifest("team/app", OWN, b"own", _row(b"own"))
    tx.set_tag("team/app", "v1", SHARED, 5.0)
    tx.set_tag("team/app", "signed", OWN, 6.0)
    tx.ensure_repository("team/other")
    tx.put_manifest("team/other", ELSEWHERE, b"far", _row())
    tx.set_tag("team/other", "far", ELSEWHERE, 5.0)
    tx.put_alias("team/old", MOVED)  # expired or not: the store returns it, the caller judges


OCI = "application/vnd.oci.image.manifest.v1+json"
SIGNED = "application/vnd.docker.distribution.manifest.v1+prettyjws"
NOTHING = FoundManifest(None, None, None, None)


@pytest.mark.parametrize(
    ("name", "tag", "digest", "found"),
    [
        ("team/app", "v1", None, FoundManifest(None, SHARED, OCI, b"one")),
        ("team/app", None, SHARED, FoundManifest(None, SHARED, OCI, b"one")),
        ("team/app", "signed", None, FoundManifest(None, OWN, SIGNED, b"own")),
        ("team/app", None, OWN, FoundManifest(None, OWN, SIGNED, b"own")),
        ("team/app", "v2", None, NOTHING),
        ("team/app", None, ELSEWHERE, NOTHING),  # stored, but in another repository
        ("team/app", "far", None, NOTHING),
        ("team/none", "v1", None, NOTHING),
        ("team/none", None, SHARED, NOTHING),
        ("team/old", "v1", None, FoundManifest(MOVED, None, None, None)),
        ("team/old", None, SHARED, FoundManifest(MOVED, None, None, None)),
    ],
)
def test_find_manifest(backend: Backend, name: str, tag: str | None, digest: str | None, found: FoundManifest) -> None:
    backend.meta.write(_fill)
    assert backend.meta.find_manifest(name, tag=tag, digest=digest) == found
    assert trio.run(partial(backend.meta.afind_manifest, name, tag=tag, digest=digest)) == found


def test_find_manifest_sees_a_delete_and_a_moved_tag_at_once(backend: Backend) -> None:
    backend.meta.write(_fill)
    assert backend.meta.find_manifest("team/app", tag="v1").digest == SHARED
    backend.meta.write(lambda tx: tx.set_tag("team/app", "v1", OWN, 7.0))
    assert backend.meta.find_manifest("team/app", tag="v1").digest == OWN
    backend.meta.write(lambda tx: tx.delete_manifest("team/app", OWN))
    assert backend.meta.find_manifest("team/app", tag="v1") == NOTHING
    assert backend.meta.find_manifest("team/app", digest=OWN) == NOTHING


def test_the_awaited_lookups_see_writes_at_once(backend: Backend) -> None:
    async def main() -> None:
        meta = backend.meta
        meta.write(_fill_blobs)
        assert (await meta.afind_manifest("team/app", tag="v1")).digest == SHARED
        assert (await meta.afind_blob("team/app", LAYER)).size == 7
        meta.write(lambda tx: tx.set_tag("team/app", "v1", OWN, 7.0))
        assert (await meta.afind_manifest("team/app", tag="v1")).digest == OWN
        meta.write(lambda tx: tx.delete_manifest("team/app", OWN))
        meta.write(lambda tx: tx.delete_link("team/app", LAYER))
        assert await meta.afind_manifest("team/app", tag="v1") == NOTHING
        assert await meta.afind_manifest("team/app", digest=OWN) == NOTHING
        assert await meta.afind_blob("team/app", LAYER) == FoundBlob(None, None, None)

    trio.run(main)


LAYER = "sha256:" + "4" * 64


def _fill_blobs(tx: MetaWriter) -> None:
    _fill(tx)
    tx.put_blob(LAYER, {"size": 7, "created": 1.0})
    tx.put_link("team/app", LAYER, {"size": 7, "created": 1.0})
    tx.put_link("team/app", SHARED, {"size": 3, "created": 1.0})  # a manifest pushed as a blob too


@pytest.mark.parametrize(
    ("name", "digest", "found"),
    [
        ("team/app", LAYER, FoundBlob(None, 7, None)),
        ("team/app", SHARED, FoundBlob(None, 3, None)),  # linked: the blob, not the manifest's copy
        ("team/app", OWN, FoundBlob(None, None, b"own")),  # a manifest fetched as a blob
        ("team/other", ELSEWHERE, FoundBlob(None, None, b"far")),
        ("team/other", LAYER, FoundBlob(None, None, None)),  # linked in another repository only
        ("team/none", LAYER, FoundBlob(None, None, None)),
        ("team/old", LAYER, FoundBlob(MOVED, None, None)),
    ],
)
def test_find_blob(backend: Backend, name: str, digest: str, found: FoundBlob) -> None:
    backend.meta.write(_fill_blobs)
    assert backend.meta.find_blob(name, digest) == found
    assert trio.run(backend.meta.afind_blob, name, digest) == found


def test_find_blob_sees_an_unlink_at_once(backend: Backend) -> None:
    backend.meta.write(_fill_blobs)
    backend.meta.write(lambda tx: tx.delete_link("team/app", LAYER))
    assert backend.meta.find_blob("team/app", LAYER) == FoundBlob(None, None, None)

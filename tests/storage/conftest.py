"""The conformance suite's fixture: every test runs against each storage implementation."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from .backends import KINDS, Backend, open_backend, postgresql_location, s3_location

S3_BUCKET = "tinyreg-conformance"


@pytest.fixture(params=KINDS)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    """A fresh, empty storage of one implementation (closing it twice is harmless)."""
    database = None
    location = str(tmp_path / "data")
    if request.param.startswith("postgresql"):
        cluster = request.getfixturevalue("postgres_cluster")
        database = cluster.fresh_database()  # a database of its own per test, copied from a migrated template
        location = postgresql_location(location, database)
    if request.param.endswith("+s3"):
        gateway = request.getfixturevalue("ceph_rgw")  # started once per session, only when needed
        url = f"s3://{S3_BUCKET}/{uuid.uuid4().hex}"
        location = s3_location(tmp_path / "data", url, gateway.endpoint, gateway.access_key, gateway.secret_key, database or "")
    opened = open_backend(request.param, location)
    try:
        yield opened
    finally:
        opened.close()
        if request.param.endswith("+s3"):
            _empty_prefix(opened)
        if database is not None:
            cluster.drop_database(database)


def _empty_prefix(opened: Backend) -> None:
    """Remove what the test left in S3: the gateway keeps objects in RAM for the whole session.
    (Straight from the bucket: the metadata store, where the uploads' states are, is closed.)"""
    from tinyreg.storage.s3.store import S3BlobStore

    store = opened.blobs
    assert isinstance(store, S3BlobStore)
    root = store.location.prefix + "/"
    bucket = store.location.bucket
    for page in store.client.get_paginator("list_multipart_uploads").paginate(Bucket=bucket, Prefix=root):
        for upload in page.get("Uploads", []):
            store.client.abort_multipart_upload(Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"])
    store.objects.delete_many([found["Key"] for found in store.objects.listing(root)])

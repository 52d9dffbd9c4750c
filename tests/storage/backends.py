"""The storage implementations under test, and how to open each one (also in a child process).

A backend is named by a kind and a location; `open_backend` opens it anywhere, so a test can
hand (kind, location) to another process. Later implementations (a database for metadata,
an object store for blobs) join by adding a kind here and a parameter to the fixture.

`lmdb+files`: the default, a data directory (its location).
`postgresql+files` keeps the metadata in a PostgreSQL database and the blobs in files: its
location is `<blob directory>|<database URL>`.
`postgresql+s3`: what several nodes share, metadata in PostgreSQL and blobs in S3 (a Ceph RADOS
Gateway the session starts); its location is JSON naming a directory, the database, the
`s3://bucket/prefix` (fresh for each test) and how to reach the gateway. (`lmdb+s3` opens too.)
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from tinyreg.storage.interfaces import BlobStore, MetaStore

KINDS = ["lmdb+files", "postgresql+files", "postgresql+s3"]
S3_TIMEOUT = 30.0  # a full memstore makes requests hang: fail them instead


@dataclass
class Backend:
    kind: str
    location: str
    meta: MetaStore
    blobs: BlobStore

    def close(self) -> None:
        self.meta.close()

    def reopen(self) -> Backend:
        self.close()
        return open_backend(self.kind, self.location)


def s3_location(data: Path, url: str, endpoint: str, access_key: str, secret_key: str, database: str = "") -> str:
    """The location of an S3 kind: metadata in `database` (PostgreSQL), or in LMDB in `data` when empty."""
    where = {"data": str(data), "url": url, "endpoint": endpoint, "access_key": access_key, "secret_key": secret_key}
    return json.dumps({**where, "database": database})


def postgresql_location(blob_dir: str, url: str) -> str:
    return f"{blob_dir}|{url}"


def open_backend(kind: str, location: str) -> Backend:
    from tinyreg.storage.opening import open_meta

    if kind not in (*KINDS, "lmdb+s3"):
        raise ValueError(f"unknown storage kind {kind!r}")
    if kind == "postgresql+files":
        blob_dir, _, url = location.partition("|")
        meta = open_meta(Path(blob_dir), url)
    elif kind.endswith("+s3"):
        where = json.loads(location)
        meta = open_meta(Path(where["data"]), where["database"])
    else:
        meta = open_meta(Path(location))
    return Backend(kind, location, meta, open_blob_store(kind, location, meta))


def open_blob_store(kind: str, location: str, meta: MetaStore) -> BlobStore:
    """The blob store alone (a second one in a process that has the backend open already); one in
    S3 keeps the state of its uploads in `meta`."""
    if kind.endswith("+s3"):
        from tinyreg.storage.s3.location import S3Options
        from tinyreg.storage.s3.store import S3BlobStore
        from tinyreg.storage.staging_states import MetaStagingStates

        where = json.loads(location)
        options = S3Options(
            endpoint=where["endpoint"],
            region="us-east-1",
            access_key=where["access_key"],
            secret_key=where["secret_key"],
            connect_timeout=S3_TIMEOUT,
            read_timeout=S3_TIMEOUT,
        )
        return S3BlobStore(where["url"], options, states=MetaStagingStates(meta))
    from tinyreg.storage.opening import open_blobs

    return open_blobs(Path(location.partition("|")[0]))

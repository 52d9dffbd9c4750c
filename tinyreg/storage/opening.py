"""Open the storage of a data directory: the one place that picks the implementations.

Metadata is kept in the data directory's LMDB environment unless `metadata` names a PostgreSQL
database (`postgresql://user@host:port/db`); blobs are files of the data directory unless an
`s3://bucket/prefix` is given.
"""

from __future__ import annotations

from pathlib import Path

from tinyreg.storage import private
from tinyreg.storage.files import FileBlobStore
from tinyreg.storage.interfaces import BlobStore, MetaStore
from tinyreg.storage.pg.urls import is_postgresql_url
from tinyreg.storage.s3.location import S3Options


def open_meta(data_dir: Path, metadata: str = "") -> MetaStore:
    """The metadata of `data_dir` (created owner-only when new), or the database `metadata` names
    (the data directory is then not touched)."""
    if is_postgresql_url(metadata):
        from tinyreg.storage.pg.store import PgMetaStore  # psycopg only when asked for

        return PgMetaStore(metadata)
    private.make_dir(data_dir)
    private.warn_if_shared(data_dir)
    if metadata:
        raise ValueError(f"metadata must be a postgresql:// URL (or empty for LMDB in the data directory), not {metadata!r}")
    from tinyreg.storage.lmdb_meta import LmdbMetaStore

    return LmdbMetaStore(data_dir / "meta")


def open_blobs(data_dir: Path, url: str = "", s3: S3Options | None = None, *, meta: MetaStore | None = None) -> BlobStore:
    """The blob store of `data_dir`, or the S3 one at `url` (`s3://bucket/prefix`) when given,
    which keeps the state of its uploads in `meta` (required then)."""
    if url:
        from tinyreg.storage.s3.store import S3BlobStore  # imports boto3: only when asked for
        from tinyreg.storage.staging_states import MetaStagingStates

        if meta is None:
            raise ValueError("blobs in S3 keep the state of their uploads in the metadata store: open it first")
        return S3BlobStore(url, s3, states=MetaStagingStates(meta))
    private.make_dir(data_dir)
    return FileBlobStore(data_dir)

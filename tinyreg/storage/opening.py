"""Open the storage of a data directory: the one place that picks the implementations."""

from __future__ import annotations

from pathlib import Path

from tinyreg.storage import private
from tinyreg.storage.files import FileBlobStore
from tinyreg.storage.interfaces import BlobStore, MetaStore
from tinyreg.storage.lmdb_meta import LmdbMetaStore


def open_meta(data_dir: Path) -> MetaStore:
    """The metadata of `data_dir` (created owner-only when new)."""
    private.make_dir(data_dir)
    private.warn_if_shared(data_dir)
    return LmdbMetaStore(data_dir / "meta")


def open_blobs(data_dir: Path) -> BlobStore:
    """The blob store of `data_dir`."""
    private.make_dir(data_dir)
    return FileBlobStore(data_dir)

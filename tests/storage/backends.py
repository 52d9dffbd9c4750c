"""The storage implementations under test, and how to open each one (also in a child process).

A backend is named by a kind and a location; `open_backend` opens it anywhere, so a test can
hand (kind, location) to another process. Later implementations (a database for metadata,
an object store for blobs) join by adding a kind here and a parameter to the fixture.

`postgresql+files` keeps the metadata in a PostgreSQL database and the blobs in files: its
location is `<blob directory>|<database URL>`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tinyreg.storage.interfaces import BlobStore, MetaStore

KINDS = ["lmdb+files", "postgresql+files"]


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


def postgresql_location(blob_dir: str, url: str) -> str:
    return f"{blob_dir}|{url}"


def open_backend(kind: str, location: str) -> Backend:
    from tinyreg.storage.opening import open_blobs, open_meta

    if kind == "lmdb+files":
        return Backend(kind, location, open_meta(Path(location)), open_blobs(Path(location)))
    if kind == "postgresql+files":
        blob_dir, _, url = location.partition("|")
        return Backend(kind, location, open_meta(Path(blob_dir), url), open_blobs(Path(blob_dir)))
    raise ValueError(f"unknown storage kind {kind!r}")

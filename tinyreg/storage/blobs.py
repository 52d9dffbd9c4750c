"""The blob store on files, under its former name (see `tinyreg.storage.files`)."""

from __future__ import annotations

from tinyreg.storage.files import READ_CHUNK, FileBlobStore
from tinyreg.storage.interfaces import BlobStore

__all__ = ["READ_CHUNK", "BlobStore", "FileBlobStore"]

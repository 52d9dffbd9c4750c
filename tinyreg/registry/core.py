"""The registry: metadata and blob storage behind the operations the HTTP layer calls."""

from __future__ import annotations

from pathlib import Path

from tinyreg.registry.accounting import COUNTED, Accounting, count_if_new
from tinyreg.registry.blobs import Blobs
from tinyreg.registry.gc import restore_trash
from tinyreg.registry.listings import Listings
from tinyreg.registry.repository import Manifests
from tinyreg.registry.uploads import Uploads
from tinyreg.storage.opening import open_blobs, open_meta


class Registry:
    """One data directory opened for serving: `blobs`, `uploads`, `manifests`, `listings`;
    `accounting` keeps usage and size limits (none by default)."""

    def __init__(self, data_dir: Path | str, *, default_size_limit: int | None = None, metadata: str = "") -> None:
        self.data_dir = Path(data_dir).resolve()
        self.meta = open_meta(self.data_dir, metadata)  # `metadata`: a database URL, or "" for LMDB in data_dir
        self.store = open_blobs(self.data_dir)
        self.accounting = Accounting(default_size_limit)
        with self.meta.read() as tx:
            counted = tx.counter(COUNTED)
        if not counted:
            self.meta.write(count_if_new)  # a data directory from before usage was counted
        self.blobs = Blobs(self.meta, self.store)
        self.uploads = Uploads(self.meta, self.store, self.accounting)
        self.manifests = Manifests(self.meta, self.accounting)
        self.listings = Listings(self.meta)
        restore_trash(self.store)  # files an interrupted garbage collection left aside

    def close(self) -> None:
        self.meta.close()

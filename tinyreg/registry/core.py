"""The registry: metadata and blob storage behind the operations the HTTP layer calls."""

from __future__ import annotations

from pathlib import Path

from tinyreg.registry.blobs import Blobs
from tinyreg.registry.gc import restore_trash
from tinyreg.registry.listings import Listings
from tinyreg.registry.repository import Manifests
from tinyreg.registry.uploads import Uploads
from tinyreg.storage.opening import open_blobs, open_meta


class Registry:
    """One data directory opened for serving: `blobs`, `uploads`, `manifests`, `listings`."""

    def __init__(self, data_dir: Path | str) -> None:
        self.data_dir = Path(data_dir).resolve()
        self.meta = open_meta(self.data_dir)
        self.store = open_blobs(self.data_dir)
        self.blobs = Blobs(self.meta, self.store)
        self.uploads = Uploads(self.meta, self.store)
        self.manifests = Manifests(self.meta)
        self.listings = Listings(self.meta)
        restore_trash(self.store)  # files an interrupted garbage collection left aside

    def close(self) -> None:
        self.meta.close()

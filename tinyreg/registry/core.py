"""The registry: metadata and blob storage behind the operations the HTTP layer calls."""

from __future__ import annotations

from pathlib import Path

from tinyreg.registry.accounting import COUNTED, Accounting, count_if_new
from tinyreg.registry.aliases import active_alias
from tinyreg.registry.blobs import Blobs
from tinyreg.registry.cache import Cache
from tinyreg.registry.gc import restore_trash
from tinyreg.registry.listings import Listings
from tinyreg.registry.notification_settings import NotificationSettings
from tinyreg.registry.notifier import Notifier
from tinyreg.registry.repository import Manifests
from tinyreg.registry.uploads import Uploads
from tinyreg.storage.interfaces import AliasRow
from tinyreg.storage.opening import open_blobs, open_meta
from tinyreg.storage.s3.location import S3Options


class Registry:
    """One data directory opened for serving: `blobs`, `uploads`, `manifests`, `listings`;
    `accounting` keeps usage and size limits (none by default), `notifier` records events, `cache`
    the pull-through cache's repositories. Blob bytes live in the data directory, or in S3 when
    `blobs` is an `s3://bucket/prefix`; `blob_redirects` sends GETs of blobs to the store's own
    URLs when it has them."""

    def __init__(
        self,
        data_dir: Path | str,
        *,
        default_size_limit: int | None = None,
        notifications: NotificationSettings | None = None,
        blobs: str = "",
        s3: S3Options | None = None,
        blob_redirects: bool = True,
        move_alias_days: int = 30,
        metadata: str = "",
    ) -> None:
        self.data_dir = Path(data_dir).resolve()
        self.move_alias_days = move_alias_days  # how long moved paths answer as aliases (0: not at all)
        self.meta = open_meta(self.data_dir, metadata)  # `metadata`: a database URL, or "" for LMDB in data_dir
        self.store = open_blobs(self.data_dir, blobs, s3, meta=self.meta)  # S3 keeps its uploads' state in it
        self.blob_redirects = blob_redirects
        self.accounting = Accounting(default_size_limit)
        with self.meta.read() as tx:
            counted = tx.counter(COUNTED)
        if not counted:
            self.meta.write(count_if_new)  # a data directory from before usage was counted
        self.notifier = Notifier(self.meta, notifications)
        self.blobs = Blobs(self.meta, self.store, self.notifier)
        self.uploads = Uploads(self.meta, self.store, self.accounting, self.notifier)
        self.manifests = Manifests(self.meta, self.accounting, self.notifier)
        self.listings = Listings(self.meta)
        self.cache = Cache(self.meta, self.store, self.manifests)
        restore_trash(self.store)  # files an interrupted garbage collection left aside

    def alias_of(self, name: str) -> AliasRow | None:
        """The alias in force of `name`, the old name of a moved repository (None for any other)."""
        with self.meta.read() as tx:
            return active_alias(tx, name)

    def close(self) -> None:
        self.meta.close()

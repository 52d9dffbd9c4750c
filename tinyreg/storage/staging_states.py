"""The state of uploads a remote blob store stages, kept in the metadata store.

A blob store on S3 stages an upload as a multipart upload; what it must remember between two
requests (the multipart upload's id, its parts, its checkpoints) is a small record, kept here as
one row per upload (`StagingStateRow`) rather than beside the bytes, so that whichever node
receives the next chunk of an upload reads it from the database all nodes share, in the same
unit of work that decides whether it may write.

Two things keep two nodes appending to one upload safe:

* a save names the version it read and is refused (None) when the row moved on meanwhile: a
  holder that lost the upload to another one never writes over what that one recorded;
* one holder at a time: the row also names who appends now and until when (a lease, renewed
  while bytes keep coming; a holder killed mid-way is taken over once it expires).

Every call is one snapshot or one unit of work of the metadata store (LMDB: one short write
transaction; PostgreSQL: one SERIALIZABLE transaction, so two nodes comparing and setting the
same row at once end up in some serial order).
"""

from __future__ import annotations

import time
from typing import Any, Protocol

from tinyreg.storage.interfaces import MetaStore, MetaWriter, StagingStateRow


class StagingStates(Protocol):
    """What a blob store needs to keep its uploads' states elsewhere: get, create, compare and
    set by version, delete, list with the time of the last save, and hold one upload at a time."""

    def get(self, upload_id: str) -> StagingStateRow | None: ...
    def create(self, upload_id: str, state: dict[str, Any]) -> None:
        """Record a new upload's state at version 1 (FileExistsError when the id is taken)."""

    def save(self, upload_id: str, state: dict[str, Any], version: int) -> int | None:
        """Replace the state if it is still at `version`; the new version, or None when it
        changed meanwhile or is gone."""

    def delete(self, upload_id: str) -> bool: ...
    def changed(self) -> list[tuple[str, float]]:
        """Every upload with a state and when it was last saved, in byte order of the ids."""

    def take(self, upload_id: str, holder: str, ttl: float) -> bool:
        """Hold the upload for `ttl` seconds unless another holds it unexpired (True also when
        the upload has no state: there is nothing to hold)."""

    def renew(self, upload_id: str, holder: str, ttl: float) -> bool:
        """Extend our hold; False when another took it over (it had expired) or the state is gone."""

    def release(self, upload_id: str, holder: str) -> None:
        """Let go of the upload if we still hold it."""


def is_held(row: StagingStateRow, now: float) -> bool:
    """Someone holds the upload at `now` (its lease has not expired)."""
    return row["holder"] is not None and row["expires"] > now


class MetaStagingStates:
    """`StagingStates` as rows of a `MetaStore` (LMDB or PostgreSQL)."""

    def __init__(self, meta: MetaStore) -> None:
        self.meta = meta

    def get(self, upload_id: str) -> StagingStateRow | None:
        with self.meta.read() as tx:
            return tx.staging_state(upload_id)

    def create(self, upload_id: str, state: dict[str, Any]) -> None:
        def change(tx: MetaWriter) -> bool:
            if tx.staging_state(upload_id) is not None:
                return False
            tx.put_staging_state(
                upload_id, {"state": state, "version": 1, "updated": time.time(), "holder": None, "expires": 0.0}
            )
            return True

        if not self.meta.write(change):
            raise FileExistsError(f"staging upload {upload_id} exists")

    def save(self, upload_id: str, state: dict[str, Any], version: int) -> int | None:
        def change(tx: MetaWriter) -> int | None:
            row = tx.staging_state(upload_id)
            if row is None or row["version"] != version:
                return None
            tx.put_staging_state(upload_id, {**row, "state": state, "version": version + 1, "updated": time.time()})
            return version + 1

        return self.meta.write(change)

    def delete(self, upload_id: str) -> bool:
        return self.meta.write(lambda tx: tx.delete_staging_state(upload_id))

    def changed(self) -> list[tuple[str, float]]:
        with self.meta.read() as tx:
            return [(upload_id, row["updated"]) for upload_id, row in tx.iter_staging_states()]

    def take(self, upload_id: str, holder: str, ttl: float) -> bool:
        def change(tx: MetaWriter) -> bool:
            row = tx.staging_state(upload_id)
            if row is None:
                return True
            now = time.time()
            if row["holder"] != holder and is_held(row, now):
                return False
            tx.put_staging_state(upload_id, {**row, "holder": holder, "expires": now + ttl})
            return True

        return self.meta.write(change)

    def renew(self, upload_id: str, holder: str, ttl: float) -> bool:
        def change(tx: MetaWriter) -> bool:
            row = tx.staging_state(upload_id)
            if row is None or row["holder"] != holder:
                return False
            tx.put_staging_state(upload_id, {**row, "expires": time.time() + ttl})
            return True

        return self.meta.write(change)

    def release(self, upload_id: str, holder: str) -> None:
        def change(tx: MetaWriter) -> None:
            row = tx.staging_state(upload_id)
            if row is not None and row["holder"] == holder:
                tx.put_staging_state(upload_id, {**row, "holder": None, "expires": 0.0})

        self.meta.write(change)

"""Writes of the registry's content on PostgreSQL (the `MetaWriter` methods for repositories,
manifests, tags, blobs, links, upload sessions and their staging states), inside one SERIALIZABLE transaction."""

from __future__ import annotations

import time

from psycopg.types.json import Json

from tinyreg.storage.interfaces import BlobRow, LinkRow, ManifestRow, RepositoryRow, StagingStateRow, UploadRow
from tinyreg.storage.pg.access import AccessWriter
from tinyreg.storage.pg.content_reader import STAGING_COLUMNS, ContentReader, manifest_row
from tinyreg.storage.pg.tx import json_value
from tinyreg.storage.pg.usage import UsageWriter

INSERT_MANIFEST = """
INSERT INTO manifests (repository_id, digest, media_type, size, artifact_type, subject, annotations, refs, created, data, children)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
ON CONFLICT (repository_id, digest) DO UPDATE SET
    media_type = EXCLUDED.media_type, size = EXCLUDED.size, artifact_type = EXCLUDED.artifact_type,
    subject = EXCLUDED.subject, annotations = EXCLUDED.annotations, refs = EXCLUDED.refs,
    data = EXCLUDED.data, children = EXCLUDED.children
"""  # an existing row keeps its `created`

SET_TAG = """
INSERT INTO tags (repository_id, name, digest, pushed_at) VALUES (%s, %s, %s, %s)
ON CONFLICT (repository_id, name) DO UPDATE SET digest = EXCLUDED.digest, pushed_at = EXCLUDED.pushed_at
"""


class ContentWriter(ContentReader, AccessWriter, UsageWriter):
    __slots__ = ()

    # -- repositories -----------------------------------------------------------------------

    def _new_repository(self, repo: str, created: float, updated: float | None) -> int:
        repo_id = self.next_counter("repository")
        self.conn.execute(
            "INSERT INTO repositories (id, name, created, updated) VALUES (%s, %s, %s, %s)", (repo_id, repo, created, updated)
        )
        self._repo_ids[repo] = repo_id
        return repo_id

    def put_repository(self, repo: str, row: RepositoryRow) -> None:
        # A changed id is carried to the repository's rows by their foreign keys (ON UPDATE CASCADE).
        old_id = self._repo_id(repo)
        if old_id is not None:
            self._published_at.pop(old_id, None)  # the row as given, not a time still pending
        self.conn.execute(
            "INSERT INTO repositories (id, name, created, updated) VALUES (%s, %s, %s, %s) "
            "ON CONFLICT (name) DO UPDATE SET id = EXCLUDED.id, created = EXCLUDED.created, updated = EXCLUDED.updated",
            (row["id"], repo, row["created"], row["updated"]),
        )
        self._repo_ids[repo] = row["id"]

    def _existing_repository(self, repo: str) -> int:
        """The id of `repo`, added (not yet published) if new: rows of a repository need its row."""
        repo_id = self._repo_id(repo)
        return self._new_repository(repo, time.time(), None) if repo_id is None else repo_id

    def ensure_repository(self, repo: str) -> None:
        self._existing_repository(repo)

    def _published(self, repo: str, when: float) -> int:
        """Record that a manifest was put or a tag set in `repo` at `when`; the repository's id.

        The latest time per repository is written once, when the unit of work ends: a unit of work
        setting thousands of tags would otherwise update one row thousands of times (each update
        a new row version that the next must walk past)."""
        repo_id = self._repo_id(repo)
        if repo_id is None:
            return self._new_repository(repo, when, when)
        if when > self._published_at.get(repo_id, float("-inf")):
            self._published_at[repo_id] = when
        return repo_id

    def _flush(self) -> None:
        """Write the pending `updated` times, never back in time (a clock stepped back)."""
        for repo_id, when in self._published_at.items():
            self.conn.execute(
                "UPDATE repositories SET updated = %s WHERE id = %s AND (updated IS NULL OR updated < %s)", (when, repo_id, when)
            )
        self._published_at.clear()

    def delete_repository(self, repo: str) -> bool:
        self.conn.execute("DELETE FROM cached_repositories WHERE repository = %s", (repo,))
        repo_id = self._repo_id(repo)
        if repo_id is None:
            return False
        # Its tags, manifests (and so referrers) and links go with it: ON DELETE CASCADE.
        self.conn.execute("DELETE FROM repositories WHERE id = %s", (repo_id,))
        self._repo_ids[repo] = None
        self._published_at.pop(repo_id, None)
        return True

    # -- manifests --------------------------------------------------------------------------

    def put_manifest(self, repo: str, digest: str, data: bytes, row: ManifestRow) -> None:
        if "data" not in row:
            added = self._count(
                "INSERT INTO manifest_data (digest, data) VALUES (%s, %s) ON CONFLICT (digest) DO NOTHING", (digest, data)
            )
            if added:
                self._add_stored(len(data))
        repo_id = self._published(repo, row["created"])
        self.conn.execute(
            INSERT_MANIFEST,
            (
                repo_id,
                digest,
                row["media_type"],
                row["size"],
                row["artifact_type"],
                row["subject"],
                json_value(row["annotations"]),
                row["refs"],
                row["created"],
                row.get("data"),
                row.get("children"),
            ),
        )

    def delete_manifest(self, repo: str, digest: str) -> ManifestRow | None:
        repo_id = self._repo_id(repo)
        if repo_id is None:
            return None
        columns = "media_type, size, artifact_type, subject, annotations, refs, created, data, children"
        row = self._one(f"DELETE FROM manifests WHERE repository_id = %s AND digest = %s RETURNING {columns}", (repo_id, digest))
        if row is None:
            return None
        self.conn.execute("DELETE FROM tags WHERE repository_id = %s AND digest = %s", (repo_id, digest))
        return manifest_row(row)

    def delete_manifest_data(self, digest: str) -> None:
        size = self._value("DELETE FROM manifest_data WHERE digest = %s RETURNING length(data)", (digest,))
        if size is not None:
            self._add_stored(-size)

    # -- tags -------------------------------------------------------------------------------

    def set_tag(self, repo: str, tag: str, digest: str, pushed_at: float) -> None:
        repo_id = self._published(repo, pushed_at)
        self.conn.execute(SET_TAG, (repo_id, tag, digest, pushed_at))

    def delete_tag(self, repo: str, tag: str) -> bool:
        repo_id = self._repo_id(repo)
        return repo_id is not None and self._count("DELETE FROM tags WHERE repository_id = %s AND name = %s", (repo_id, tag)) > 0

    # -- blobs and links --------------------------------------------------------------------

    def put_blob(self, digest: str, row: BlobRow) -> None:
        added = self._count(
            "INSERT INTO blobs (digest, size, created) VALUES (%s, %s, %s) ON CONFLICT (digest) DO NOTHING",
            (digest, row["size"], row["created"]),
        )
        if added:
            self._add_stored(row["size"])

    def delete_blob(self, digest: str) -> None:
        size = self._value("DELETE FROM blobs WHERE digest = %s RETURNING size", (digest,))
        if size is not None:
            self._add_stored(-size)

    def put_link(self, repo: str, digest: str, row: LinkRow) -> None:
        # A link needs its repository's row (the registry adds it in the same unit of work anyway).
        self.conn.execute(
            "INSERT INTO links (repository_id, digest, size, created) VALUES (%s, %s, %s, %s) "
            "ON CONFLICT (repository_id, digest) DO UPDATE SET size = EXCLUDED.size, created = EXCLUDED.created",
            (self._existing_repository(repo), digest, row.get("size"), row.get("created")),
        )

    def delete_link(self, repo: str, digest: str) -> bool:
        repo_id = self._repo_id(repo)
        return (
            repo_id is not None
            and self._count("DELETE FROM links WHERE repository_id = %s AND digest = %s", (repo_id, digest)) > 0
        )

    # -- upload sessions --------------------------------------------------------------------

    def put_upload(self, upload_id: str, row: UploadRow) -> None:
        self.conn.execute(
            "INSERT INTO uploads (id, repository, size, started, updated) VALUES (%s, %s, %s, %s, %s) "
            "ON CONFLICT (id) DO UPDATE SET repository = EXCLUDED.repository, size = EXCLUDED.size, "
            "started = EXCLUDED.started, updated = EXCLUDED.updated",
            (upload_id, row["repo"], row["size"], row["started"], row["updated"]),
        )

    def delete_upload(self, upload_id: str) -> bool:
        return self._count("DELETE FROM uploads WHERE id = %s", (upload_id,)) > 0

    def put_staging_state(self, upload_id: str, row: StagingStateRow) -> None:
        self.conn.execute(
            f"INSERT INTO staging_states (upload_id, {STAGING_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s) "
            "ON CONFLICT (upload_id) DO UPDATE SET state = EXCLUDED.state, version = EXCLUDED.version, "
            "updated = EXCLUDED.updated, holder = EXCLUDED.holder, expires = EXCLUDED.expires",
            (upload_id, Json(row["state"]), row["version"], row["updated"], row["holder"], row["expires"]),
        )

    def delete_staging_state(self, upload_id: str) -> bool:
        return self._count("DELETE FROM staging_states WHERE upload_id = %s", (upload_id,)) > 0

"""Reads of the registry's content on PostgreSQL: repositories, manifests, tags, blobs, links,
referrers, upload sessions and the states of their S3 stagings (the `MetaReader` methods of `tinyreg.storage.interfaces`)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import cast

from tinyreg.storage.interfaces import BlobRow, LinkRow, ManifestRow, RepositoryRow, StagingStateRow, Tag, UploadRow
from tinyreg.storage.pg.tx import PgTx, Row

MANIFEST_COLUMNS = "m.media_type, m.size, m.artifact_type, m.subject, m.annotations, m.refs, m.created, m.data, m.children"
# A manifest with its shared bytes (NULL when it keeps its own copy), for a snapshot: a manifest
# read is nearly always followed by a read of its bytes, one round trip instead of two.
SHARED_BYTES = "LEFT JOIN manifest_data d ON m.data IS NULL AND d.digest = m.digest"
STAGING_COLUMNS = "state, version, updated, holder, expires"


def manifest_row(columns: Row) -> ManifestRow:
    """A ManifestRow from MANIFEST_COLUMNS (`data` and `children` only when stored)."""
    media_type, size, artifact_type, subject, annotations, refs, created, data, children = columns
    row: ManifestRow = {
        "media_type": media_type,
        "size": size,
        "artifact_type": artifact_type,
        "subject": subject,
        "annotations": annotations,
        "refs": refs,
        "created": created,
    }
    if data is not None:
        row["data"] = bytes(data)
    if children is not None:
        row["children"] = children
    return row


def link_row(size: int | None, created: float | None) -> LinkRow:
    row: LinkRow = {}
    if size is not None:
        row["size"] = size
    if created is not None:
        row["created"] = created
    return row


def _names(rows: list[Row], limit: int) -> tuple[list[str], bool]:
    """The first column of up to `limit` rows (of `limit + 1` fetched), and whether more follow."""
    return [row[0] for row in rows[:limit]], len(rows) > limit


class ContentReader(PgTx):
    __slots__ = ()

    # -- repositories -----------------------------------------------------------------------

    def has_repository(self, repo: str) -> bool:
        return self._repo_id(repo) is not None

    def repositories(self, *, after: str | None, limit: int) -> tuple[list[str], bool]:
        rows = self._all(
            "SELECT name FROM repositories WHERE name > %s ORDER BY name LIMIT %s",
            (after or "", limit + 1),
        )
        return _names(rows, limit)

    def iter_repositories(self, *, after: str | None = None) -> Iterator[str]:
        rows = self._pages("SELECT name FROM repositories WHERE name > %s AND {after}", ("name",), (after or "",))
        return (row[0] for row in rows)

    def repositories_under(self, path: str) -> list[str]:
        # `path/...` is the range ['path/', 'path0'): '0' follows '/' in byte order.
        rows = self._all(
            "SELECT name FROM repositories WHERE name = %s OR (name >= %s AND name < %s) ORDER BY name",
            (path, path + "/", path + "0"),
        )
        return [row[0] for row in rows]

    def repository_info(self, repo: str) -> RepositoryRow | None:
        self._flush()
        row = self._one("SELECT id, created, updated FROM repositories WHERE name = %s", (repo,))
        return None if row is None else {"id": row[0], "created": row[1], "updated": row[2]}

    def repository_by_id(self, repo_id: int) -> tuple[str, RepositoryRow] | None:
        self._flush()
        row = self._one("SELECT name, id, created, updated FROM repositories WHERE id = %s", (repo_id,))
        return None if row is None else (row[0], {"id": row[1], "created": row[2], "updated": row[3]})

    # -- manifests --------------------------------------------------------------------------

    def _remember_manifest(self, repo: str, digest: str, columns: Row | None) -> ManifestRow | None:
        """Keep a manifest fetched as MANIFEST_COLUMNS and d.data (None: not in `repo`), and its bytes, for
        the snapshot's later `manifest` and `manifest_data` calls; the row."""
        assert self._seen is not None
        row = None if columns is None else manifest_row(columns[:-1])
        self._seen[("manifest", repo, digest)] = row
        if columns is not None and columns[-1] is not None:
            self._seen[("manifest_data", digest)] = bytes(columns[-1])
        return row

    def manifest(self, repo: str, digest: str) -> ManifestRow | None:
        if self._seen is not None:
            key = ("manifest", repo, digest)
            if key in self._seen:
                return cast("ManifestRow | None", self._seen[key])
            columns = self.conn.execute(
                f"SELECT {MANIFEST_COLUMNS}, d.data FROM manifests m JOIN repositories r ON r.id = m.repository_id "
                f"{SHARED_BYTES} WHERE r.name = %s AND m.digest = %s",
                (repo, digest),
                binary=True,
            ).fetchone()
            return self._remember_manifest(repo, digest, cast("Row | None", columns))
        row = self._one(
            f"SELECT {MANIFEST_COLUMNS} FROM manifests m JOIN repositories r ON r.id = m.repository_id "
            "WHERE r.name = %s AND m.digest = %s",
            (repo, digest),
        )
        return None if row is None else manifest_row(row)

    def has_manifest(self, repo: str, digest: str) -> bool:
        return (
            self._one(
                "SELECT 1 FROM manifests m JOIN repositories r ON r.id = m.repository_id WHERE r.name = %s AND m.digest = %s",
                (repo, digest),
            )
            is not None
        )

    def manifest_data(self, digest: str) -> bytes | None:
        if self._seen is not None and ("manifest_data", digest) in self._seen:
            return cast("bytes", self._seen[("manifest_data", digest)])
        row = self.conn.execute("SELECT data FROM manifest_data WHERE digest = %s", (digest,), binary=True).fetchone()
        return None if row is None else bytes(cast("bytes", row[0]))

    def iter_manifests(self) -> Iterator[tuple[str, str, ManifestRow]]:
        rows = self._pages(
            f"SELECT r.name, m.digest, {MANIFEST_COLUMNS} FROM manifests m JOIN repositories r ON r.id = m.repository_id "
            "WHERE {after}",
            ("r.name", "m.digest"),
        )
        return ((row[0], row[1], manifest_row(row[2:])) for row in rows)

    def iter_manifest_data(self) -> Iterator[str]:
        return (row[0] for row in self._pages("SELECT digest FROM manifest_data WHERE {after}", ("digest",)))

    def manifests_of(self, repo: str) -> Iterator[tuple[str, ManifestRow]]:
        rows = self._pages(
            f"SELECT m.digest, {MANIFEST_COLUMNS} FROM manifests m WHERE m.repository_id = %s AND {{after}}",
            ("m.digest",),
            (self._repo_id(repo),),
        )
        return ((row[0], manifest_row(row[1:])) for row in rows)

    # -- tags -------------------------------------------------------------------------------

    def tag_digest(self, repo: str, tag: str) -> str | None:
        found = self.tag(repo, tag)
        return None if found is None else found.digest

    def tag(self, repo: str, tag: str) -> Tag | None:
        if self._seen is not None:  # a snapshot reads the manifest of a tag with it: a GET by tag
            joined: Row | None = self.conn.execute(
                f"SELECT t.digest, t.pushed_at, {MANIFEST_COLUMNS}, d.data FROM tags t JOIN repositories r ON r.id = t.repository_id "
                f"LEFT JOIN manifests m ON m.repository_id = t.repository_id AND m.digest = t.digest {SHARED_BYTES} "
                "WHERE r.name = %s AND t.name = %s",
                (repo, tag),
                binary=True,
            ).fetchone()
            if joined is None:
                return None
            self._remember_manifest(repo, joined[0], None if joined[2] is None else joined[2:])
            return Tag(joined[0], joined[1])
        row = self._one(
            "SELECT t.digest, t.pushed_at FROM tags t JOIN repositories r ON r.id = t.repository_id "
            "WHERE r.name = %s AND t.name = %s",
            (repo, tag),
        )
        return None if row is None else Tag(row[0], row[1])

    def tags(self, repo: str, *, after: str | None, limit: int) -> tuple[list[str], bool]:
        rows = self._all(
            "SELECT t.name FROM tags t JOIN repositories r ON r.id = t.repository_id "
            "WHERE r.name = %s AND t.name > %s ORDER BY t.name LIMIT %s",
            (repo, after or "", limit + 1),
        )
        return _names(rows, limit)

    def tags_of(self, repo: str, digest: str) -> list[str]:
        rows = self._all(
            "SELECT t.name FROM tags t JOIN repositories r ON r.id = t.repository_id "
            "WHERE r.name = %s AND t.digest = %s ORDER BY t.name",
            (repo, digest),
        )
        return [row[0] for row in rows]

    def iter_tags(self, repo: str) -> Iterator[tuple[str, Tag]]:
        rows = self._pages(
            "SELECT name, digest, pushed_at FROM tags WHERE repository_id = %s AND {after}", ("name",), (self._repo_id(repo),)
        )
        return ((row[0], Tag(row[1], row[2])) for row in rows)

    # -- blobs and links --------------------------------------------------------------------

    def blob(self, digest: str) -> BlobRow | None:
        row = self._one("SELECT size, created FROM blobs WHERE digest = %s", (digest,))
        return None if row is None else {"size": row[0], "created": row[1]}

    def iter_blobs(self) -> Iterator[str]:
        return (row[0] for row in self._pages("SELECT digest FROM blobs WHERE {after}", ("digest",)))

    def link(self, repo: str, digest: str) -> LinkRow | None:
        row = self._one(
            "SELECT l.size, l.created FROM links l JOIN repositories r ON r.id = l.repository_id "
            "WHERE r.name = %s AND l.digest = %s",
            (repo, digest),
        )
        return None if row is None else link_row(row[0], row[1])

    def iter_links(self) -> Iterator[tuple[str, str, LinkRow]]:
        rows = self._pages(
            "SELECT r.name, l.digest, l.size, l.created FROM links l JOIN repositories r ON r.id = l.repository_id WHERE {after}",
            ("r.name", "l.digest"),
        )
        return ((row[0], row[1], link_row(row[2], row[3])) for row in rows)

    def referrers(self, repo: str, subject: str) -> Iterator[str]:
        rows = self._all(
            "SELECT m.digest FROM manifests m JOIN repositories r ON r.id = m.repository_id "
            "WHERE r.name = %s AND m.subject = %s ORDER BY m.digest",
            (repo, subject),
        )
        return (row[0] for row in rows)

    # -- upload sessions --------------------------------------------------------------------

    def upload(self, upload_id: str) -> UploadRow | None:
        row = self._one("SELECT repository, size, started, updated FROM uploads WHERE id = %s", (upload_id,))
        return None if row is None else {"repo": row[0], "size": row[1], "started": row[2], "updated": row[3]}

    def iter_uploads(self) -> Iterator[tuple[str, UploadRow]]:
        rows = self._pages("SELECT id, repository, size, started, updated FROM uploads WHERE {after}", ("id",))
        return ((row[0], {"repo": row[1], "size": row[2], "started": row[3], "updated": row[4]}) for row in rows)

    def staging_state(self, upload_id: str) -> StagingStateRow | None:
        row = self._one(f"SELECT {STAGING_COLUMNS} FROM staging_states WHERE upload_id = %s", (upload_id,))
        return None if row is None else staging_row(row)

    def iter_staging_states(self) -> Iterator[tuple[str, StagingStateRow]]:
        rows = self._pages(f"SELECT upload_id, {STAGING_COLUMNS} FROM staging_states WHERE {{after}}", ("upload_id",))
        return ((row[0], staging_row(row[1:])) for row in rows)


def staging_row(columns: Row) -> StagingStateRow:
    state, version, updated, holder, expires = columns
    return {"state": state, "version": version, "updated": updated, "holder": holder, "expires": expires}

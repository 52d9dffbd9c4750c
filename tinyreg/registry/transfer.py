"""Copy a whole registry from one pair of stores to another (`tinyreg migrate`).

Everything goes: blobs (bytes and rows), manifests with their bytes, tags, links, repositories
with their ids, users, groups, projects, members, tokens, cleanup policies, usage counts and the
counters that number new rows, so ids, tokens and passwords keep working on the other side.

* Verified: a blob's bytes are hashed while they are copied, and the destination keeps them only
  under the digest they hash to; a manifest's bytes are hashed against its digest too. Any
  mismatch stops the copy with the digest named, and nothing of that item is kept.
* Resumable: every step skips what the destination already holds (blob bytes are not copied
  again), and metadata goes in units of work of at most `BATCH` rows, so an interrupted copy is
  simply run again and finishes the rest.
* Streaming: blob bytes pass through in chunks of `CHUNK`; no blob is ever held whole.

Events waiting for delivery go along, so that they are delivered from the new store. Not copied:
upload sessions in progress (clients start them again), with the states of their stagings in S3
(the destination's blob store keeps its own), and delivery counts. A tag pushed before push
times were recorded gets its manifest's time (a store needs one).

The source should not change while it is copied (stop the server, or copy again afterwards:
the second run copies only what is new).
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import partial
from typing import Any, TypeVar

from tinyreg.registry.names import parse_digest
from tinyreg.storage.interfaces import BlobStore, MetaReader, MetaStore, MetaWriter, RepositoryRow, UsageKind, UsageRef

BATCH = 500
#: Events waiting for delivery are carried over (delivery is at least once) up to this many per target.
PENDING_EVENTS_MAX = 1_000_000
CHUNK = 1024 * 1024
T = TypeVar("T")


class TransferError(RuntimeError):
    """The source holds something that cannot be copied faithfully (named in the message)."""


@dataclass
class TransferReport:
    """What a copy did, by kind of row; `blob_bytes` counts only the bytes copied this time."""

    counts: dict[str, int] = field(default_factory=dict)
    blobs_copied: int = 0
    blobs_present: int = 0
    blob_bytes: int = 0

    def add(self, kind: str, amount: int = 1) -> None:
        self.counts[kind] = self.counts.get(kind, 0) + amount

    def to_json(self) -> dict[str, Any]:
        return {
            **self.counts,
            "blobs_copied": self.blobs_copied,
            "blobs_present": self.blobs_present,
            "blob_bytes": self.blob_bytes,
        }


Progress = Callable[[str], None]


def _batches(items: Iterable[T]) -> Iterator[list[T]]:
    batch: list[T] = []
    for item in items:
        batch.append(item)
        if len(batch) >= BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


async def transfer(
    source: MetaStore, source_blobs: BlobStore, target: MetaStore, target_blobs: BlobStore, *, progress: Progress | None = None
) -> TransferReport:
    """Copy everything of `source` into `target` (see the module's description)."""
    report, say = TransferReport(), progress or (lambda message: None)
    _check_target(source, target)
    await _copy_blobs(source, source_blobs, target, target_blobs, report, say)
    _copy_access(source, target, report)
    say(f"copied users, groups, projects, members and tokens: {report.to_json()}")
    _copy_repositories(source, target, report, say)
    _copy_usage(source, target, report)
    _copy_pending_events(source, target, report)
    return report


def _check_target(source: MetaStore, target: MetaStore) -> None:
    """Refuse a target that holds another registry: a copy goes into an empty store, or goes on
    with an earlier copy of this one (whose rows are then the source's, ids included)."""
    with source.read() as src, target.read() as dst:
        kinds: list[tuple[str, Iterable[tuple[str, Any]], Callable[[str], Any]]] = [
            ("repository", ((name, dst.repository_info(name)) for name in dst.iter_repositories()), src.repository_info),
            ("user", dst.iter_users(), src.user),
            ("group", dst.iter_groups(), src.group),
            ("project", dst.iter_projects(), src.project),
        ]
        for kind, rows, find in kinds:
            for name, row in rows:
                theirs = find(name)
                if theirs is None or (row or {}).get("id") != theirs.get("id"):
                    raise TransferError(
                        f"the target holds another registry ({kind} {name} is not the source's): "
                        "copy into an empty database, bucket or directory, or run the same copy again"
                    )


async def _copy_blobs(
    source: MetaStore, source_blobs: BlobStore, target: MetaStore, target_blobs: BlobStore, report: TransferReport, say: Progress
) -> None:
    """Blob bytes first, then their rows: a row never names bytes the destination lacks."""
    with source.read() as tx:
        digests = list(tx.iter_blobs())
    for batch in _batches(digests):
        rows = {}
        with source.read() as tx:
            for digest in batch:
                row = tx.blob(digest)
                if row is not None:
                    rows[digest] = row
        for digest, row in rows.items():
            parsed = parse_digest(digest)
            if target_blobs.size(parsed) == row["size"]:
                report.blobs_present += 1
                continue
            await _copy_bytes(source_blobs, target_blobs, digest, row["size"])
            report.blobs_copied += 1
            report.blob_bytes += row["size"]

        def put_rows(tx: MetaWriter, rows: dict[str, Any] = rows) -> None:
            for digest, row in rows.items():
                tx.put_blob(digest, row)

        target.write(put_rows)
        report.add("blobs", len(rows))
        say(f"blobs: {report.counts['blobs']} of {len(digests)}")


async def _copy_bytes(source_blobs: BlobStore, target_blobs: BlobStore, digest: str, size: int) -> None:
    parsed = parse_digest(digest)
    upload_id = f"migrate-{secrets.token_hex(16)}"
    target_blobs.create_staging(upload_id)
    staging = target_blobs.open_staging(upload_id)
    if staging is None:  # pragma: no cover - the file was just created
        raise TransferError(f"the destination lost the staging file of {digest}")
    hasher, offset = hashlib.new(parsed.algorithm), 0
    try:
        await staging.lock()
        with source_blobs.open(parsed) as blob:
            while chunk := blob.read(CHUNK):
                await staging.append(offset, [chunk], len(chunk), hasher)
                offset += len(chunk)
    except FileNotFoundError:
        target_blobs.discard(upload_id)
        raise TransferError(f"blob {digest} is recorded in the source but its bytes are missing") from None
    finally:
        staging.close()
    if hasher.hexdigest() != parsed.encoded or offset != size:
        target_blobs.discard(upload_id)
        raise TransferError(f"blob {digest} in the source does not hash to its digest ({offset} bytes read, {size} recorded)")
    target_blobs.commit(upload_id, parsed)


def _copy_rows(target: MetaStore, rows: list[tuple[Any, ...]], put: Callable[[MetaWriter, tuple[Any, ...]], None]) -> None:
    for batch in _batches(rows):

        def change(tx: MetaWriter, batch: list[tuple[Any, ...]] = batch) -> None:
            for item in batch:
                put(tx, item)

        target.write(change)


def _copy_access(source: MetaStore, target: MetaStore, report: TransferReport) -> None:
    with source.read() as tx:
        kinds: dict[str, tuple[list[tuple[Any, ...]], Callable[[MetaWriter, tuple[Any, ...]], None]]] = {
            "counters": (list(tx.iter_counters()), lambda w, item: w.set_counter(*item)),
            "users": (list(tx.iter_users()), lambda w, item: w.put_user(*item)),
            "groups": (list(tx.iter_groups()), lambda w, item: w.put_group(*item)),
            "group_members": (_rows(tx.iter_group_members(), tx.group_member), lambda w, item: w.put_group_member(*item)),
            "projects": (list(tx.iter_projects()), lambda w, item: w.put_project(*item)),
            "members": (_rows(tx.iter_members(), tx.member), lambda w, item: w.put_member(*item)),
            "tokens": (_tokens(tx), lambda w, item: w.put_token(item[0], item[1]["id"], item[1])),
            "cleanup_policies": (list(tx.iter_cleanup_policies()), lambda w, item: w.put_cleanup_policy(*item)),
            "project_hooks": (list(tx.iter_project_hooks()), lambda w, item: w.put_project_hook(*item)),
            "aliases": (list(tx.iter_aliases()), lambda w, item: w.put_alias(*item)),
            "cached_repositories": (list(tx.iter_cached_repositories()), lambda w, item: w.put_cached_repository(*item)),
        }
    for kind, (rows, put) in kinds.items():
        _copy_rows(target, rows, put)
        report.add(kind, len(rows))


def _rows(pairs: Iterable[tuple[str, str]], row: Callable[[str, str], dict[str, Any] | None]) -> list[tuple[Any, ...]]:
    """(path, user, row) of every membership."""
    return [(path, user, found) for path, user in pairs if (found := row(path, user)) is not None]


def _tokens(tx: MetaReader) -> list[tuple[Any, ...]]:
    return [(key, row) for key in tx.iter_token_keys() if (row := tx.token(key)) is not None]


def _copy_repositories(source: MetaStore, target: MetaStore, report: TransferReport, say: Progress) -> None:
    with source.read() as tx:
        repositories = list(tx.iter_repositories())
    for number, repo in enumerate(repositories, 1):
        with source.read() as tx:
            info = tx.repository_info(repo)
            manifests = [(digest, row, row.get("data") or tx.manifest_data(digest)) for digest, row in tx.manifests_of(repo)]
            tags: list[Any] = list(tx.iter_tags(repo))
        for digest, _, data in manifests:
            if data is None or hashlib.new(parse_digest(digest).algorithm, data).hexdigest() != parse_digest(digest).encoded:
                raise TransferError(f"manifest {repo}@{digest} in the source is missing its bytes or does not hash to its digest")
        if info is not None:  # first, so that manifests and tags do not number it anew
            target.write(partial(_put_repository, repo, info))
        _copy_rows(target, manifests, partial(_put_manifest, repo))
        created = {digest: row["created"] for digest, row, _ in manifests}
        tags = [
            (name, tag.digest, created.get(tag.digest, 0.0) if tag.pushed_at is None else tag.pushed_at) for name, tag in tags
        ]
        _copy_rows(target, tags, partial(_set_tag, repo))
        if info is not None:  # and last: setting tags moved `updated`; the copy keeps the source's row
            target.write(partial(_put_repository, repo, info))
        report.add("repositories")
        report.add("manifests", len(manifests))
        report.add("tags", len(tags))
        if number % 100 == 0 or number == len(repositories):
            say(f"repositories: {number} of {len(repositories)}")
    with source.read() as tx:
        links = [(repo, digest, row) for repo, digest, row in tx.iter_links()]
    _copy_rows(target, links, lambda w, item: w.put_link(*item))
    report.add("links", len(links))


def _copy_pending_events(source: MetaStore, target: MetaStore, report: TransferReport) -> None:
    """Each target's undelivered events, oldest first, in one unit of work per target; a target the
    destination knows already (an earlier run copied it) is left alone, so none is queued twice."""
    with source.read() as tx:
        queues = {queue: tx.pending_events(queue, limit=PENDING_EVENTS_MAX) for queue, _ in tx.iter_event_states()}
    with target.read() as tx:
        known = {queue for queue in queues if tx.event_state(queue) is not None}
    for queue, events in queues.items():
        if queue in known or not events:
            continue

        def change(tx: MetaWriter, queue: str = queue, events: list[tuple[int, bytes]] = events) -> None:
            tx.queue_events(queue, [event for _, event in events], max_pending=PENDING_EVENTS_MAX)

        target.write(change)
        report.add("pending_events", len(events))


def _put_manifest(repo: str, tx: MetaWriter, item: tuple[Any, ...]) -> None:
    digest, row, data = item
    tx.put_manifest(repo, digest, data, row)


def _set_tag(repo: str, tx: MetaWriter, item: tuple[Any, ...]) -> None:
    tx.set_tag(repo, *item)


def _put_repository(repo: str, row: RepositoryRow, tx: MetaWriter) -> None:
    tx.put_repository(repo, row)


def _set_usage_refs(kind: UsageKind, owner: str, refs: dict[str, UsageRef], tx: MetaWriter) -> None:
    tx.set_usage_refs(kind, owner, refs)


def _set_usage_total(kind: UsageKind, owner: str, total: int, tx: MetaWriter) -> None:
    tx.set_usage_total(kind, owner, total)


def _copy_usage(source: MetaStore, target: MetaStore, report: TransferReport) -> None:
    kinds: tuple[UsageKind, ...] = ("project", "repository")
    for kind in kinds:
        with source.read() as tx:
            owners = [(owner, total, list(tx.usage_refs(kind, owner))) for owner, total in tx.usage_totals(kind)]
        for owner, total, refs in owners:
            for batch in _batches(refs):
                target.write(partial(_set_usage_refs, kind, owner, dict(batch)))
            target.write(partial(_set_usage_total, kind, owner, total))
        report.add(f"usage_{kind}s", len(owners))
    with source.read() as tx:
        stored = tx.stored_bytes()
    target.write(lambda w: w.set_stored_bytes(stored))

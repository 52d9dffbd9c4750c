"""What the registry and the access model need of storage, in their own words.

Two stores sit below `registry/` and `access/`:

* `MetaStore` keeps the metadata (repositories, manifests, tags, blob links and rows,
  referrers, upload sessions and the states of those staged in S3, users, projects, groups,
  members, tokens, counters; users, projects, groups and repositories carry a numeric `id`,
  found again through an index). Reads happen in a snapshot (`with meta.read() as tx:`); changes in a unit of work (`meta.write(change)`,
  where `change(tx)` receives a `MetaWriter` and either returns, and everything it did is
  committed at once, or raises, and nothing of it is). A database-backed implementation runs
  `change` in one transaction and may run it again on a serialization failure, so `change`
  only touches `tx` and never awaits or does I/O elsewhere.
* `BlobStore` keeps blob bytes by digest, the staging files of uploads in progress, and the
  listing and set-aside operations garbage collection needs.

Rows are plain dicts (typed below): cheap to decode on the hot read paths.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any, BinaryIO, Literal, NamedTuple, NotRequired, Protocol, TypedDict, TypeVar

from tinyreg.digest import Digest

T = TypeVar("T")


class ManifestRow(TypedDict):
    media_type: str
    size: int
    artifact_type: str | None
    subject: str | None
    annotations: dict[str, str] | None
    refs: list[str]  # blobs and child manifests, as digests
    created: float
    data: NotRequired[bytes]  # the repository's own copy of the bytes (signed schema 1), not shared
    children: NotRequired[int]  # how many of `refs`, at the end, are child manifests (absent in old rows)


class BlobRow(TypedDict):
    size: int
    created: float


class LinkRow(TypedDict, total=False):
    size: int
    created: float


class UploadRow(TypedDict):
    repo: str
    size: int
    started: float
    updated: float
    moved_to: NotRequired[str]  # the repository moved meanwhile: the session is cancelled, kept to say where to


class StagingStateRow(TypedDict):
    """A blob store's record of an upload in progress (S3: its multipart upload, parts, checkpoints)."""

    state: dict[str, Any]  # the blob store's own fields (JSON values)
    version: int  # 1 when created, one more at each save: a save names the version it read
    updated: float  # when the state was last saved (an upload idle long enough expires)
    holder: str | None  # who appends now (a process's own id), None when nobody
    expires: float  # when another may take the upload over from `holder` (one killed never lets go)


class RepositoryRow(TypedDict):
    id: int
    created: float
    updated: float | None  # when a manifest was last put or a tag last set ("last published")


class LeaseRow(TypedDict):
    holder: str  # who holds it (a process's own id)
    expires: float  # when another may take it over (a holder killed mid-task never releases it)


class EventQueueState(TypedDict):
    """One delivery target's queue of events: its next sequence number and its counts."""

    next: int
    pending: int  # queued, not yet delivered
    queued: int
    delivered: int
    failed: int  # delivery attempts that failed
    dropped: int  # events refused because the queue was full


class CachedRepositoryRow(TypedDict):
    """A repository of the pull-through cache: where it comes from and how it is used."""

    mirror: str  # the mirror's name
    upstream: str  # the repository's name upstream
    last_pulled: float  # the last manifest request (eviction takes the least recent first)
    hits: int  # manifest requests answered from the cache
    misses: int  # manifest requests that fetched from upstream
    checked: dict[str, float]  # tag -> when upstream last gave or confirmed it


class AliasRow(TypedDict):
    """Where a moved project or repository went: its old path answers for it until `expires`."""

    kind: Literal["project", "repository"]
    target: str
    created: float
    expires: float


class FoundManifest(NamedTuple):
    """What a manifest GET reads (`MetaStore.find_manifest`): the alias row of a name (in force or
    expired: the caller judges) and the manifest a tag points to, or of a digest, in the
    repository of that name (None for the last three when there is none)."""

    alias: AliasRow | None
    digest: str | None
    media_type: str | None
    data: bytes | None  # exactly as pushed: the repository's own copy (signed schema 1) or the shared bytes


class FoundBlob(NamedTuple):
    """What a blob GET or HEAD reads (`MetaStore.find_blob`): the alias row of a name (in force or
    expired: the caller judges), the size of the blob as linked in repository `name` (None when it
    is not), and else the bytes of a manifest of that digest there (clients fetch those as blobs too)."""

    alias: AliasRow | None
    size: int | None
    manifest: bytes | None


class Tag(NamedTuple):
    """Where a tag points, and when it was pushed (None for tags pushed before that was recorded)."""

    digest: str
    pushed_at: float | None


#: Whose usage a count belongs to: a project (by path) or a repository (by name).
UsageKind = Literal["project", "repository"]


class UsageRef(NamedTuple):
    """How many manifests of a project (or repository) reference a digest, and its size in bytes."""

    manifests: int
    size: int


class BlobFile(NamedTuple):
    """A stored blob as garbage collection sees it."""

    digest: str  # "algorithm:encoded", as named on disk: may not be a valid digest
    size: int
    modified: float


class MetaReader(Protocol):
    """A consistent snapshot of the metadata."""

    # repositories
    def has_repository(self, repo: str) -> bool: ...
    def repositories(self, *, after: str | None, limit: int) -> tuple[list[str], bool]: ...
    def iter_repositories(self, *, after: str | None = None) -> Iterator[str]: ...
    def repositories_under(self, path: str) -> list[str]:
        """The repositories named `path` or `path/...`, in byte order."""

    def repository_info(self, repo: str) -> RepositoryRow | None: ...
    def repository_by_id(self, repo_id: int) -> tuple[str, RepositoryRow] | None: ...

    # manifests
    def manifest(self, repo: str, digest: str) -> ManifestRow | None: ...
    def has_manifest(self, repo: str, digest: str) -> bool: ...
    def manifest_data(self, digest: str) -> bytes | None: ...
    def iter_manifests(self) -> Iterator[tuple[str, str, ManifestRow]]: ...
    def iter_manifest_data(self) -> Iterator[str]: ...
    def manifests_of(self, repo: str) -> Iterator[tuple[str, ManifestRow]]:
        """The manifests of one repository, as (digest, row), in digest order."""

    # tags
    def tag_digest(self, repo: str, tag: str) -> str | None: ...
    def tag(self, repo: str, tag: str) -> Tag | None: ...
    def tags(self, repo: str, *, after: str | None, limit: int) -> tuple[list[str], bool]: ...
    def tags_of(self, repo: str, digest: str) -> list[str]: ...
    def iter_tags(self, repo: str) -> Iterator[tuple[str, Tag]]:
        """Every tag of one repository with where it points and when it was pushed, in byte order."""

    # blobs and the links that make them readable through a repository
    def blob(self, digest: str) -> BlobRow | None: ...
    def iter_blobs(self) -> Iterator[str]: ...
    def link(self, repo: str, digest: str) -> LinkRow | None: ...
    def iter_links(self) -> Iterator[tuple[str, str, LinkRow]]: ...

    # referrers: manifests of `repo` whose subject is `subject`, in digest order
    def referrers(self, repo: str, subject: str) -> Iterator[str]: ...

    # upload sessions
    def upload(self, upload_id: str) -> UploadRow | None: ...
    def iter_uploads(self) -> Iterator[tuple[str, UploadRow]]: ...
    def staging_state(self, upload_id: str) -> StagingStateRow | None: ...
    def iter_staging_states(self) -> Iterator[tuple[str, StagingStateRow]]:
        """Every recorded staging state as (upload id, row), in byte order."""

    # the access model
    def user(self, name: str) -> dict[str, Any] | None: ...
    def iter_users(self) -> Iterator[tuple[str, dict[str, Any]]]: ...
    def project(self, path: str) -> dict[str, Any] | None: ...
    def iter_projects(self) -> Iterator[tuple[str, dict[str, Any]]]: ...
    def member(self, path: str, user: str) -> dict[str, Any] | None: ...
    def members(self, path: str) -> Iterator[tuple[str, dict[str, Any]]]: ...
    def iter_members(self) -> Iterator[tuple[str, str]]: ...
    def user_by_id(self, user_id: int) -> tuple[str, dict[str, Any]] | None: ...
    def project_by_id(self, project_id: int) -> tuple[str, dict[str, Any]] | None: ...
    def projects_below(self, path: str) -> Iterator[tuple[str, dict[str, Any]]]:
        """The projects whose path starts with `path/`, in byte order."""

    def group(self, path: str) -> dict[str, Any] | None: ...
    def group_by_id(self, group_id: int) -> tuple[str, dict[str, Any]] | None: ...
    def iter_groups(self) -> Iterator[tuple[str, dict[str, Any]]]: ...
    def groups_below(self, path: str) -> Iterator[tuple[str, dict[str, Any]]]:
        """The groups whose path starts with `path/`, in byte order."""

    def group_member(self, path: str, user: str) -> dict[str, Any] | None: ...
    def group_members(self, path: str) -> Iterator[tuple[str, dict[str, Any]]]: ...
    def iter_group_members(self) -> Iterator[tuple[str, str]]: ...
    def token(self, key: bytes) -> dict[str, Any] | None: ...
    def token_key(self, token_id: int) -> bytes | None: ...
    def iter_token_keys(self) -> Iterator[bytes]: ...
    def counter(self, name: str) -> int: ...
    def iter_counters(self) -> Iterator[tuple[str, int]]:
        """Every counter with its value, in byte order (what a copy to another store carries over)."""

    # usage: reference counts per (owner, digest) and the bytes of each owner's distinct digests
    def usage_ref(self, kind: UsageKind, owner: str, digest: str) -> UsageRef | None: ...
    def usage_counts(self, kind: UsageKind, owner: str, digests: Iterable[str]) -> dict[str, UsageRef | None]:
        """The counts of several digests at once (None: not counted): a manifest put reads them all."""

    def usage_refs(self, kind: UsageKind, owner: str) -> Iterator[tuple[str, UsageRef]]:
        """The counted digests of one owner, in digest order."""

    def usage_total(self, kind: UsageKind, owner: str) -> int: ...
    def usage_totals(self, kind: UsageKind) -> Iterator[tuple[str, int]]:
        """Every owner of that kind with a recorded total (zero included), in byte order."""

    def stored_bytes(self) -> int:
        """Bytes of all blob rows plus the shared manifest bytes, kept by the writes that add and remove them."""

    # housekeeping: projects' cleanup policies (by project path), and leases of periodic tasks
    def cleanup_policy(self, path: str) -> dict[str, Any] | None: ...
    def iter_cleanup_policies(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """Every stored policy as (project path, row), in byte order."""

    def lease(self, name: str) -> LeaseRow | None: ...

    # event notifications: one queue of events (JSON bytes) per delivery target; projects' webhooks
    def event_state(self, queue: str) -> EventQueueState | None: ...
    def iter_event_states(self) -> Iterator[tuple[str, EventQueueState]]:
        """Every queue that ever held an event, with its counts, in byte order."""

    def pending_events(self, queue: str, *, limit: int) -> list[tuple[int, bytes]]:
        """The oldest `limit` events of a queue not yet delivered, as (sequence number, event)."""

    def project_hook(self, path: str, hook_id: int) -> dict[str, Any] | None: ...
    def project_hooks(self, path: str) -> Iterator[tuple[int, dict[str, Any]]]:
        """The hooks of one project as (id, row), by id."""

    def iter_project_hooks(self) -> Iterator[tuple[str, int, dict[str, Any]]]:
        """Every hook as (project path, id, row)."""

    # the pull-through cache: one row per cached repository (its manifests and tags are ordinary ones)
    def cached_repository(self, repo: str) -> CachedRepositoryRow | None: ...
    def iter_cached_repositories(self) -> Iterator[tuple[str, CachedRepositoryRow]]:
        """Every cached repository with its row, in byte order."""

    # moves: the old paths of moved projects and repositories (expired rows stay until removed)
    def alias(self, path: str) -> AliasRow | None: ...
    def iter_aliases(self) -> Iterator[tuple[str, AliasRow]]:
        """Every alias as (old path, row), in byte order."""


class MetaWriter(MetaReader, Protocol):
    """A unit of work: everything done through it is committed together, or not at all."""

    def ensure_repository(self, repo: str) -> None:
        """Add the repository's row (with a new id, `updated` None) unless it exists."""

    def put_manifest(self, repo: str, digest: str, data: bytes, row: ManifestRow) -> None:
        """Store the row (keeping an existing row's `created`), the bytes once per digest (unless
        the row holds its own copy in `data`), and the referrer entry when it has a subject; the
        repository (added if new) is `updated` at the given row's `created`."""

    def delete_manifest(self, repo: str, digest: str) -> ManifestRow | None:
        """Remove the row, every tag pointing to it and its referrer entry; the old row or None."""

    def delete_manifest_data(self, digest: str) -> None: ...
    def set_tag(self, repo: str, tag: str, digest: str, pushed_at: float) -> None:
        """Point the tag at `digest`; the repository (added if new) is `updated` at `pushed_at`."""

    def delete_tag(self, repo: str, tag: str) -> bool: ...
    def delete_repository(self, repo: str) -> bool:
        """Remove the repository with its tags, manifests, referrer entries, blob links and cache
        row (the shared manifest bytes and blobs stay for garbage collection); False if it did not exist."""

    def put_repository(self, repo: str, row: RepositoryRow) -> None:
        """Store the repository's row as given, its `id` indexed (a copy from another store keeps ids)."""

    def set_counter(self, name: str, value: int) -> None:
        """Set a counter (a copy from another store carries it over, so new ids do not collide)."""

    def put_blob(self, digest: str, row: BlobRow) -> None:
        """Record a stored blob unless it is already recorded."""

    def delete_blob(self, digest: str) -> None: ...
    def put_link(self, repo: str, digest: str, row: LinkRow) -> None: ...
    def delete_link(self, repo: str, digest: str) -> bool: ...
    def put_upload(self, upload_id: str, row: UploadRow) -> None: ...
    def delete_upload(self, upload_id: str) -> bool: ...
    def put_staging_state(self, upload_id: str, row: StagingStateRow) -> None: ...
    def delete_staging_state(self, upload_id: str) -> bool: ...
    def put_user(self, name: str, row: dict[str, Any]) -> None:
        """Store the user; a row's `id` is indexed for `user_by_id` (likewise projects, groups)."""

    def delete_user(self, name: str) -> bool: ...
    def put_project(self, path: str, row: dict[str, Any]) -> None: ...
    def put_group(self, path: str, row: dict[str, Any]) -> None: ...
    def delete_group(self, path: str) -> bool: ...
    def put_group_member(self, path: str, user: str, row: dict[str, Any]) -> None: ...
    def delete_group_member(self, path: str, user: str) -> bool: ...
    def put_member(self, path: str, user: str, row: dict[str, Any]) -> None: ...
    def delete_member(self, path: str, user: str) -> bool: ...
    def put_token(self, key: bytes, token_id: int, row: dict[str, Any]) -> None: ...
    def next_counter(self, name: str) -> int:
        """Increment the counter and return its new value."""

    def set_usage_refs(self, kind: UsageKind, owner: str, refs: Mapping[str, UsageRef | None]) -> None:
        """Record the counts of these digests (None, or a count of 0, removes one)."""

    def set_usage_total(self, kind: UsageKind, owner: str, total: int) -> None: ...
    def clear_usage(self, kind: UsageKind, owner: str) -> None:
        """Remove every count and the total of one owner."""

    def set_stored_bytes(self, total: int) -> None:
        """Correct the registry-wide total (a recount found it wrong)."""

    def put_cleanup_policy(self, path: str, row: dict[str, Any]) -> None: ...
    def delete_cleanup_policy(self, path: str) -> bool: ...
    def put_lease(self, name: str, row: LeaseRow) -> None: ...
    def delete_lease(self, name: str) -> bool: ...
    def queue_events(self, queue: str, events: Sequence[bytes], *, max_pending: int) -> int:
        """Append `events` to the queue in their order, as long as fewer than `max_pending` wait
        there: the rest are dropped (counted). How many were queued."""

    def ack_events(self, queue: str, through: int) -> int:
        """Remove the events up to sequence number `through` (delivered); how many."""

    def count_event_failure(self, queue: str) -> None: ...
    def delete_event_queue(self, queue: str) -> int:
        """Remove a queue with its events and counts (its target is gone); how many events."""

    def put_project_hook(self, path: str, hook_id: int, row: dict[str, Any]) -> None: ...
    def delete_project_hook(self, path: str, hook_id: int) -> bool: ...
    def put_cached_repository(self, repo: str, row: CachedRepositoryRow) -> None: ...
    def delete_cached_repository(self, repo: str) -> bool: ...

    def move_repository(self, old: str, new: str) -> bool:
        """Re-key everything of repository `old` to `new`: its row (keeping its id), tags with the
        tag index, manifests, referrer entries, blob links and its repository usage rows. Costs
        what it moves (no scan of other repositories); no blob or shared manifest bytes change.
        False if `old` has no rows; ValueError if `new` already has some."""

    def move_project(self, old: str, new: str) -> bool:
        """Re-key the rows keyed by project path from `old` to `new`: the project's row (keeping its
        id), its members, its webhooks, its cleanup policy and its project usage rows (its repositories move with
        `move_repository`). False if there is no project `old`; ValueError if `new` exists."""

    def put_alias(self, path: str, row: AliasRow) -> None: ...
    def delete_alias(self, path: str) -> bool: ...


class MetaStore(Protocol):
    #: Every call waits on the network (a database server): callers in async code run them in
    #: worker threads, at most `threads` at once; a local store's calls (LMDB: microseconds) run inline.
    remote: bool
    threads: int

    def read(self) -> AbstractContextManager[MetaReader]: ...
    def write(self, change: Callable[[MetaWriter], T]) -> T: ...
    def close(self) -> None: ...
    def find_manifest(self, name: str, *, tag: str | None = None, digest: str | None = None) -> FoundManifest:
        """The alias row of `name` and the manifest `tag` points to (or of `digest`) in repository
        `name`, with its bytes, read consistently: all a manifest GET needs, in one call."""

    def find_blob(self, name: str, digest: str) -> FoundBlob:
        """The alias row of `name` and the blob `digest` as repository `name` holds it (linked, or a
        manifest's bytes), read consistently: all a blob GET needs, in one call."""

    # The two lookups of every pull, as the event loop calls them: on a database, without the hop
    # to a worker thread the other calls take (which costs more than the round trip itself).
    async def afind_manifest(self, name: str, *, tag: str | None = None, digest: str | None = None) -> FoundManifest:
        """`find_manifest`, awaited."""

    async def afind_blob(self, name: str, digest: str) -> FoundBlob:
        """`find_blob`, awaited."""


class StagingFile(Protocol):
    """An upload's staging file, opened for appending; one holder at a time across processes."""

    async def lock(self) -> None:
        """Wait (cancellably) until no other process holds the file, then hold it."""

    def is_current(self) -> bool:
        """False once the file was committed as a blob or discarded by another holder."""

    def trim(self, size: int) -> None:
        """Cut the file back to `size` bytes (those its session recorded)."""

    async def append(self, offset: int, chunks: list[bytes], size: int, hasher: Any | None) -> None:
        """Write `chunks` (`size` bytes in all) at `offset` and feed them to `hasher`."""

    def close(self) -> None: ...


class BlobStore(Protocol):
    """Blob bytes by digest, staging files of uploads, and what garbage collection needs.
    Calls block: callers run the slow ones in a worker thread."""

    #: Every call may wait on the network (an object store): callers in async code run them all
    #: in worker threads, not only the slow ones.
    remote: bool

    def size(self, digest: Digest) -> int | None: ...
    def open(self, digest: Digest) -> BinaryIO:
        """The blob's bytes for reading (FileNotFoundError when absent)."""

    def read_range(self, digest: Digest, start: int, length: int) -> bytes: ...
    def url(self, digest: Digest) -> str | None:
        """A short-lived URL clients may GET the blob's bytes from (Range included), or None when
        the store offers none. Made without a look at the store: it may point at a missing blob."""

    def put(self, data: bytes, digest: Digest) -> None:
        """Store `data` (already known to have `digest`) durably."""

    def delete(self, digest: Digest) -> bool: ...
    def check_writable(self) -> int:
        """Write, sync and remove a probe where blobs are stored; the bytes free there (OSError if it cannot)."""

    # staging files of uploads
    def create_staging(self, upload_id: str) -> None: ...
    def open_staging(self, upload_id: str) -> StagingFile | None: ...
    def has_staging(self, upload_id: str) -> bool: ...
    def staging_digest(self, upload_id: str, algorithm: str) -> Digest: ...
    def staging_idle(self, upload_id: str, now: float, ttl: float) -> bool:
        """Nobody wrote to the staging file for `ttl` seconds and no process holds it."""

    def commit(self, upload_id: str, digest: Digest) -> None:
        """Make a verified staging file the blob `digest`, durably; a crash leaves either no
        blob or a complete one."""

    def discard(self, upload_id: str) -> None: ...
    def staging_ids(self) -> list[str]: ...

    # garbage collection
    def collection_lock(self) -> AbstractContextManager[None]:
        """One collection at a time (across processes); raises CollectionRunning otherwise."""

    def iter_blob_files(self) -> Iterator[BlobFile]: ...
    def set_aside(self, name: str) -> bool:
        """Move the blob named `name` out of reach (False when it is gone)."""

    def put_back(self, name: str) -> None: ...
    def drop_aside(self, name: str) -> None: ...
    def restore_aside(self) -> int:
        """Put back everything an interrupted collection left aside; how many."""


class CollectionRunning(RuntimeError):
    """Another garbage collection holds the data directory's collection lock."""

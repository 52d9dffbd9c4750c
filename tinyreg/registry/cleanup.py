"""Running cleanup policies: which tags of a project's repositories go, removing them in
bounded steps, and the lease that lets one process of several run the due policies.

A run plans per repository with `select_tags` (GitLab's rules: `latest` stays, a tag matching
a keep rule stays, `keep_n` counts the newest pushed), then untags in small units of work. A
tag is only removed if it still points where it did when planned (a push in between wins).

A manifest left without tags by a run is deleted too (as GitLab's registry collects untagged
manifests), so garbage collection can free its blobs; unless another manifest of the
repository refers to it (a child of an index) or something refers to it as its subject
(signatures, SBOMs). Removing a multi-arch index's last tag deletes the index only: its
children stay, pullable by digest, with their blobs.

Given a notifier, each tag removed and each manifest deleted is a `delete` event, queued in the
unit of work that removes it; its origin says no client asked (`unattended_origin` with the
method `CLEANUP`, one request id per run of a policy).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tinyreg.registry.accounting import Accounting
from tinyreg.registry.cleanup_policy import after_run, due_at, tag_rules, validate_policy
from tinyreg.registry.events import CLEANUP_METHOD, DELETE, Origin, Subject, unattended_origin
from tinyreg.registry.notifier import Notifier
from tinyreg.registry.tag_rules import TagInfo, select_tags
from tinyreg.storage.interfaces import MetaReader, MetaStore, MetaWriter, Tag

#: Uncounting a manifest needs no limit: the accounting of any registry does it the same way.
USAGE = Accounting()

CLEANUP_LEASE = "cleanup"
#: Tags untagged per unit of work: a write transaction stays short however large the backlog.
UNTAG_CHUNK = 100


@dataclass
class RepositoryPlan:
    repo: str
    delete: list[str]
    kept: dict[str, str]
    planned: dict[str, Tag] = field(default_factory=dict)  # where each tag to delete pointed


@dataclass
class CleanupRun:
    """What a run of one project's policy removed (or would remove), and why the rest stays."""

    project: str
    removed: dict[str, list[str]] = field(default_factory=dict)  # repository -> tags
    kept: dict[str, dict[str, str]] = field(default_factory=dict)  # repository -> tag -> reason
    finished: bool = True  # False: the budget ran out, the rest waits for the next run
    manifests: int = 0  # manifests deleted because a run left them without tags

    @property
    def count(self) -> int:
        return sum(len(tags) for tags in self.removed.values())

    def to_json(self) -> dict[str, Any]:
        return {
            "project": self.project,
            "removed": self.removed,
            "kept": self.kept,
            "finished": self.finished,
            "manifests_deleted": self.manifests,
        }


def policy_of(meta: MetaStore, path: str) -> dict[str, Any] | None:
    with meta.read() as tx:
        return tx.cleanup_policy(path)


def set_policy(meta: MetaStore, path: str, changes: Mapping[str, Any], now: float | None = None) -> dict[str, Any]:
    """Validate and store `changes` to the policy of project `path` (PolicyError, LookupError)."""
    when = time.time() if now is None else now

    def change(tx: MetaWriter) -> dict[str, Any]:
        if tx.project(path) is None:
            raise LookupError(f"no project {path!r}")
        row = validate_policy(tx.cleanup_policy(path), changes, when)
        tx.put_cleanup_policy(path, row)
        return row

    return meta.write(change)


def _project_repositories(tx: MetaReader, path: str) -> list[str]:
    """The repositories of project `path`, not those of projects nested below it."""
    nested = [below for below, _ in tx.projects_below(path)]
    return [repo for repo in tx.repositories_under(path) if not any(repo == n or repo.startswith(n + "/") for n in nested)]


def plan(tx: MetaReader, path: str, row: Mapping[str, Any], now: float) -> list[RepositoryPlan]:
    """What the policy `row` of project `path` removes at `now`, per repository."""
    rules = tag_rules(row)
    plans = []
    for repo in _project_repositories(tx, path):
        tags = dict(tx.iter_tags(repo))
        selection = select_tags((TagInfo(name, tag.pushed_at) for name, tag in tags.items()), rules, now)
        plans.append(RepositoryPlan(repo, selection.delete, selection.kept, {name: tags[name] for name in selection.delete}))
    return plans


@dataclass(frozen=True, slots=True)
class Recorder:
    """Where a run's events go, and the origin they name."""

    notifier: Notifier
    origin: Origin

    def deleted(self, tx: MetaWriter, repo: str, digest: str, tag: str | None = None) -> None:
        self.notifier.record(tx, Subject(DELETE, "manifest", repo, digest, tag=tag), self.origin)


def _untag(
    meta: MetaStore, repo: str, planned: Mapping[str, Tag], names: Iterable[str], recorder: Recorder | None = None
) -> tuple[list[str], int]:
    """Untag `names` (those still pointing where planned) and delete the manifests left untagged
    and unreferenced; the tags removed and how many manifests went with them."""

    def change(tx: MetaWriter) -> tuple[list[str], int]:
        done = [name for name in names if tx.tag(repo, name) == planned[name] and tx.delete_tag(repo, name)]
        if recorder is not None:
            for name in done:
                recorder.deleted(tx, repo, planned[name].digest, name)
        untagged = {planned[name].digest for name in done}
        children = {ref for _, row in tx.manifests_of(repo) for ref in row["refs"]} if untagged else set()
        deleted = 0
        for digest in sorted(untagged - children):
            if not tx.tags_of(repo, digest) and next(iter(tx.referrers(repo, digest)), None) is None:
                row = tx.delete_manifest(repo, digest)
                if row is not None:  # its share of the usage goes in the same unit of work
                    USAGE.manifest_removed(tx, repo, digest, row)
                    deleted += 1
                    if recorder is not None:
                        recorder.deleted(tx, repo, digest)
        return done, deleted

    return meta.write(change)


def run_policy(
    meta: MetaStore,
    path: str,
    row: Mapping[str, Any],
    *,
    now: float,
    dry_run: bool = False,
    budget: int | None = None,
    notifier: Notifier | None = None,
) -> CleanupRun:
    """Apply the policy of `path` once: at most `budget` tags removed (None: all); with a
    `notifier`, each removal is an event."""
    with meta.read() as tx:
        plans = plan(tx, path, row, now)
    run = CleanupRun(path)
    recorder = Recorder(notifier, unattended_origin(CLEANUP_METHOD, str(uuid.uuid4()))) if notifier is not None else None
    left = budget
    for repo_plan in plans:
        run.kept[repo_plan.repo] = repo_plan.kept
        todo = repo_plan.delete if left is None else repo_plan.delete[:left]
        if len(todo) < len(repo_plan.delete):
            run.finished = False
        removed: list[str] = []
        if dry_run:
            removed = list(todo)
        else:
            for start in range(0, len(todo), UNTAG_CHUNK):
                done, manifests = _untag(meta, repo_plan.repo, repo_plan.planned, todo[start : start + UNTAG_CHUNK], recorder)
                removed += done
                run.manifests += manifests
        if removed:
            run.removed[repo_plan.repo] = removed
        if left is not None:
            left -= len(todo)
    return run


def take_lease(meta: MetaStore, name: str, holder: str, now: float, ttl: float) -> bool:
    """Hold the lease `name` until `now + ttl` if it is free, expired or already ours."""

    def change(tx: MetaWriter) -> bool:
        current = tx.lease(name)
        if current is not None and current["holder"] != holder and current["expires"] > now:
            return False
        tx.put_lease(name, {"holder": holder, "expires": now + ttl})
        return True

    return meta.write(change)


def release_lease(meta: MetaStore, name: str, holder: str) -> None:
    def change(tx: MetaWriter) -> None:
        current = tx.lease(name)
        if current is not None and current["holder"] == holder:
            tx.delete_lease(name)

    meta.write(change)


def run_due(
    meta: MetaStore,
    *,
    holder: str,
    budget: int,
    lease_ttl: float,
    cadence_seconds: float | None = None,
    now: float | None = None,
    notifier: Notifier | None = None,
) -> list[CleanupRun] | None:
    """Run the due policies under the cleanup lease, removing at most `budget` tags in all;
    None when another process holds the lease. A finished run schedules the next one; an
    unfinished one stays due and continues at the next call."""
    now = time.time() if now is None else now
    if not take_lease(meta, CLEANUP_LEASE, holder, now, lease_ttl):
        return None
    try:
        with meta.read() as tx:  # read after taking the lease: a run another holder finished is no longer due
            due = [(path, row) for path, row in tx.iter_cleanup_policies() if (at := due_at(row, cadence_seconds)) and at <= now]
        runs = []
        left = budget
        for path, row in due:
            if left <= 0:
                break
            run = run_policy(meta, path, row, now=now, budget=left, notifier=notifier)
            left -= run.count
            runs.append(run)
            if run.finished:
                _schedule_next(meta, path, row)
        return runs
    finally:
        release_lease(meta, CLEANUP_LEASE, holder)


def _schedule_next(meta: MetaStore, path: str, ran: Mapping[str, Any]) -> None:
    def change(tx: MetaWriter) -> None:
        current = tx.cleanup_policy(path)
        if current is not None and current.get("next_run_at") == ran.get("next_run_at"):  # unchanged meanwhile
            tx.put_cleanup_policy(path, after_run(current, time.time()))

    meta.write(change)

"""The server's periodic housekeeping: due cleanup policies, and garbage collection.

Both run in the server's nursery once it listens, and do their work in a worker thread (LMDB
transactions and file renames block). With `--workers N` every process runs both loops:

* cleanup takes a lease in the metadata store in a unit of work, so one process runs the due
  policies at a time; the lease expires, so a killed process's lease is taken over. A run
  removes at most `cleanup_batch` tags; a larger backlog continues at the next look.
* garbage collection holds the data directory's collection lock; a process that finds it
  taken skips that round.

Cancellation waits for the thread's current step (bounded by the batch), never abandons it
mid-transaction.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
from collections.abc import Callable
from functools import partial

import trio

from tinyreg.config import Settings
from tinyreg.registry.cleanup import CleanupRun, run_due
from tinyreg.registry.core import Registry
from tinyreg.registry.gc import CollectionRunning, GcReport, collect

log = logging.getLogger("tinyreg.housekeeping")
#: Where runs are counted for /metrics (`Metrics.count_housekeeping`), or None when nothing is counted.
Count = Callable[[str, int], None] | None
#: How long a cleanup lease holds without renewal: far longer than a bounded run takes.
LEASE_TTL = 600.0


def holder_id() -> str:
    """This process, as a lease holder: host, pid and a random part (pids are reused)."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


def _log_run(run: CleanupRun) -> None:
    for repo, tags in sorted(run.removed.items()):
        for tag in tags:
            log.info("cleanup removed tag %s:%s (policy of %s)", repo, tag, run.project)
    more = "" if run.finished else "; more at the next look"
    log.info("cleanup run of %s removed %d tags and %d untagged manifests%s", run.project, run.count, run.manifests, more)


async def run_cleanup_scheduler(registry: Registry, settings: Settings, holder: str, count: Count = None) -> None:
    """Every `cleanup_interval`, run the due cleanup policies (if no other process does)."""
    cadence = settings.cleanup_cadence_seconds or None
    step = partial(
        run_due,
        registry.meta,
        holder=holder,
        budget=settings.cleanup_batch,
        lease_ttl=LEASE_TTL,
        cadence_seconds=cadence,
        notifier=registry.notifier,
    )
    while True:
        await trio.sleep(settings.cleanup_interval)
        try:
            runs = await trio.to_thread.run_sync(step)
        except Exception:  # a failed look is retried at the next; it must not stop serving
            log.exception("running cleanup policies failed")
            continue
        for run in runs or ():
            _log_run(run)
            if count is not None:
                count("cleanup_runs", 1)
                count("cleanup_tags_removed", run.count)
                count("cleanup_manifests_removed", run.manifests)


def _log_collection(report: GcReport) -> None:
    if report.blobs or report.manifests or report.links:
        log.info(
            "gc removed %d blobs (%d bytes freed), the bytes of %d manifests and %d unused links: %s",
            len(report.blobs),
            report.bytes_freed,
            len(report.manifests),
            report.links,
            " ".join(report.blobs),
        )


async def run_online_gc(registry: Registry, settings: Settings, count: Count = None) -> None:
    """Every `gc_interval`, collect garbage with `gc_grace`; skip a round another process collects."""
    collection = partial(collect, registry.meta, registry.store, grace=settings.gc_grace)
    while True:
        await trio.sleep(settings.gc_interval)
        try:
            report = await trio.to_thread.run_sync(collection)
        except CollectionRunning:
            log.debug("gc skipped: another process collects")
            continue
        except Exception:
            log.exception("garbage collection failed")
            continue
        _log_collection(report)
        if count is not None:
            count("gc_runs", 1)
            count("gc_blobs_removed", len(report.blobs))
            count("gc_bytes_freed", report.bytes_freed)

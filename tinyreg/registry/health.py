"""Readiness: whether this registry can take pushes now, checked through its storage interfaces."""

from __future__ import annotations

from tinyreg.storage.interfaces import BlobStore, MetaStore

MiB = 1024 * 1024
PROBE_COUNTER = "readiness_probe"


def readiness_problems(meta: MetaStore, store: BlobStore, min_free_bytes: int) -> list[str]:
    """What stops the registry from serving pushes: an empty list when it is ready.

    The metadata store gets a tiny unit of work (a counter of probes: it proves both reading
    and committing), the blob store a probe file and a look at the free space.
    """
    problems = []
    try:
        meta.write(lambda writer: writer.next_counter(PROBE_COUNTER))
    except Exception as exc:  # whatever the store raises, the answer is "not ready" with its reason
        problems.append(f"metadata store not writable: {exc}")
    try:
        free = store.check_writable()
    except OSError as exc:
        problems.append(f"blob storage not writable: {exc.strerror or exc}")
    else:
        if free < min_free_bytes:
            problems.append(f"{free // MiB} MiB free for blobs, below the {min_free_bytes // MiB} MiB required")
    return problems

"""`tinyreg usage [PROJECT] [--recompute]`, the usage column of `tinyreg project list` and
`tinyreg project update PATH --size-limit`: usage and size limits on the command line."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from tinyreg.access.store import AccessError, AccessStore
from tinyreg.columns import format_table
from tinyreg.registry.accounting import COUNTED, count_if_new, project_usage, recount, repository_usage
from tinyreg.registry.usage import human_size, parse_size
from tinyreg.storage.interfaces import MetaStore


def _counted(meta: MetaStore) -> None:
    """Count usage first if no server of this version opened the data directory yet."""
    with meta.read() as tx:
        done = tx.counter(COUNTED)
    if not done:
        meta.write(count_if_new)


def usages(meta: MetaStore, default_limit: int | None) -> dict[str, dict[str, Any]]:
    """Each project's usage, limit and percentage, by path."""
    _counted(meta)
    with meta.read() as tx:
        return {path: project_usage(tx, path, row, default_limit) for path, row in tx.iter_projects()}


def usage_cell(entry: dict[str, Any]) -> str:
    """`9.8 GB / 10 GB (98%)`, or the usage alone without a limit."""
    if entry["limit"] is None:
        return human_size(entry["usage"])
    return f"{human_size(entry['usage'])} / {human_size(entry['limit'])} ({entry['percent']:g}%)"


def set_size_limit(store: AccessStore, path: str, text: str) -> int | None | str:
    """Apply `--size-limit` (a size, `none` or `default`); what was set."""
    if text.strip().lower() == "default":
        store.set_size_limit(path, None, use_default=True)
        return "default"
    try:
        limit = parse_size(text)
    except ValueError as exc:
        raise AccessError(f"--size-limit: {exc}, or default") from None
    store.set_size_limit(path, limit)
    return limit


def show_usage(args: argparse.Namespace, meta: MetaStore, default_limit: int | None, out: Callable[[Any, str], None]) -> None:
    """Print the usage of every project (or of one, by repository) and the registry-wide total."""
    lines = []
    doc: dict[str, Any] = {}
    if args.recompute:
        drift = meta.write(recount)
        meta.write(count_if_new)  # a recount is a count: no need to count again on the next open
        doc["drift"] = drift.to_json()
        lines.append(_drift_text(drift.to_json()))
    entries = usages(meta, default_limit)
    with meta.read() as tx:
        stored = tx.stored_bytes()
        if args.project is not None:
            if args.project not in entries:
                raise AccessError(f"no project {args.project!r}")
            repos = repository_usage(tx, args.project)
    if args.project is not None:
        entry = entries[args.project]
        doc.update(entry, repositories=repos)
        lines.append(f"project {args.project}: {usage_cell(entry)}")
        rows = [[r["repository"], human_size(r["usage"])] for r in repos]
        lines.append(format_table(["REPOSITORY", "USAGE"], rows, "no repositories"))
    else:
        doc.update(projects=list(entries.values()), stored_bytes=stored)
        rows = [_row(entry) for entry in entries.values()]
        lines.append(format_table(["PROJECT", "USAGE", "LIMIT", "USED"], rows, "no projects"))
        lines.append(f"stored in all: {human_size(stored)} (blobs and manifests, each once)")
    out(doc, "\n".join(lines))


def _row(entry: dict[str, Any]) -> list[str]:
    limit = "none" if entry["limit"] is None else human_size(entry["limit"])
    percent = "-" if entry["percent"] is None else f"{entry['percent']:g}%"
    return [entry["path"], human_size(entry["usage"]), limit, percent]


def _drift_text(drift: dict[str, Any]) -> str:
    found = [f"{d['kind']} {d['owner']}: stored {d['stored']} bytes, counted {d['counted']}" for d in drift["owners"]]
    if drift["stored_bytes"] is not None:
        found.append(f"registry-wide: stored {drift['stored_bytes']['stored']} bytes, counted {drift['stored_bytes']['counted']}")
    if not found:
        return "recounted: no drift"
    return "recounted: fixed drift in\n  " + "\n  ".join(found)

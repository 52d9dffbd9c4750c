"""`tinyreg db stats|compact|migrate`: the size of the metadata database, compacting it, migrating it.

`compact` needs the data directory to itself: it refuses while `tinyreg serve` (any worker)
or a garbage collection uses it. With `--metadata postgresql://...` stats are the database's
tables, `migrate` applies the schema migrations this version ships (opening the store does it
too), and compaction is PostgreSQL's own (VACUUM)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from tinyreg.config import ConfigError, load_settings


def add_db_commands(commands: Any) -> None:
    db = commands.add_parser("db", help="the metadata database: its size, compacting it").add_subparsers(
        dest="action", metavar="ACTION", required=True
    )
    for action, text in (
        ("stats", "file size, pages used and free, entries per table"),
        ("compact", "rewrite the database without its free pages (the server must be stopped)"),
        ("migrate", "apply the schema migrations of this version to a PostgreSQL metadata database"),
    ):
        parser = db.add_parser(action, help=text)
        parser.add_argument("--metadata", help="a PostgreSQL metadata database: postgresql://user@host:port/db")
        parser.add_argument("--data", help="data directory (default ./tinyreg-data; env TINYREG_DATA)")
        parser.add_argument("--config", type=Path, help="TOML file whose `data` names the data directory")
        parser.add_argument("--json", action="store_true", help="machine-readable output")


def _mib(n: int) -> str:
    return f"{n / 1024 / 1024:.1f} MiB"


def run_db(args: argparse.Namespace) -> int:
    from tinyreg.datadir import DataDirError, check_data_dir
    from tinyreg.storage.lmdb_maintenance import DataDirInUse, compact_meta, meta_stats

    try:
        settings = load_settings({"data": args.data, "metadata": args.metadata}, config_file=args.config)
        if settings.metadata or args.action == "migrate":
            return _run_postgresql(args.action, settings.metadata, args.json)
        data = check_data_dir(settings.data, create=False)
        if args.action == "stats":
            stats = meta_stats(data)
            page = stats["page_size"]
            text = (
                f"metadata {data / 'meta' / 'data.mdb'}: {_mib(stats['file_bytes'])}, {stats['pages_allocated']} pages of "
                f"{page} bytes: {stats['pages_used']} used ({_mib(stats['pages_used'] * page)}), "
                f"{stats['pages_free']} free ({_mib(stats['pages_free'] * page)})"
            )
            print(json.dumps(stats) if args.json else text)
            return 0
        before, after = compact_meta(data)
    except ConfigError as exc:
        print(f"tinyreg: {exc}", file=sys.stderr)
        return 2
    except (DataDirError, DataDirInUse, RuntimeError, OSError) as exc:
        print(f"tinyreg: {exc}", file=sys.stderr)
        return 1
    doc = {"bytes_before": before, "bytes_after": after}
    print(json.dumps(doc) if args.json else f"compacted the metadata: {_mib(before)} -> {_mib(after)}")
    return 0


def _run_postgresql(action: str, url: str, as_json: bool) -> int:
    """`db` on a PostgreSQL metadata database."""
    if not url:
        reason = "db migrate is for a PostgreSQL metadata database: name it with --metadata postgresql://..."
        print(f"tinyreg: {reason} (an LMDB data directory upgrades itself when opened)", file=sys.stderr)
        return 2
    if action == "compact":
        print("tinyreg: PostgreSQL reclaims free space itself (autovacuum, VACUUM); db compact is for LMDB", file=sys.stderr)
        return 2
    from tinyreg.storage.pg.maintenance import database_stats, migrate_database
    from tinyreg.storage.pg.migrations import SchemaTooNew

    try:
        if action == "stats":
            stats = database_stats(url)
            lines = [f"metadata database: {_mib(stats['database_bytes'])}"]
            lines += [f"  {name}: {t['rows']} rows, {_mib(t['bytes'])}" for name, t in stats["tables"].items()]
            print(json.dumps(stats) if as_json else "\n".join(lines))
            return 0
        ran, versions = migrate_database(url)
    except (OSError, SchemaTooNew) as exc:
        print(f"tinyreg: {exc}", file=sys.stderr)
        return 1
    done = ", ".join(f"{m.version} ({m.name})" for m in ran)
    text = f"applied migrations {done}" if ran else "the schema is up to date"
    doc = {"applied": [m.version for m in ran], "version": max(versions, default=0)}
    print(json.dumps(doc) if as_json else f"{text}; schema version {doc['version']}")
    return 0

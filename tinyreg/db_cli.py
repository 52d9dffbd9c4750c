"""`tinyreg db stats|compact`: the size of the metadata environment, and compacting it.

`compact` needs the data directory to itself: it refuses while `tinyreg serve` (any worker)
or a garbage collection uses it."""

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
    ):
        parser = db.add_parser(action, help=text)
        parser.add_argument("--data", help="data directory (default ./tinyreg-data; env TINYREG_DATA)")
        parser.add_argument("--config", type=Path, help="TOML file whose `data` names the data directory")
        parser.add_argument("--json", action="store_true", help="machine-readable output")


def _mib(n: int) -> str:
    return f"{n / 1024 / 1024:.1f} MiB"


def run_db(args: argparse.Namespace) -> int:
    from tinyreg.datadir import DataDirError, check_data_dir
    from tinyreg.storage.lmdb_maintenance import DataDirInUse, compact_meta, meta_stats

    try:
        settings = load_settings({"data": args.data} if args.data else {}, config_file=args.config)
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

"""`tinyreg migrate --to TARGET`: copy the whole registry into other storage, verified and resumable.

The source is the data directory the other commands use (`--data`, `TINYREG_DATA`, the TOML
`data`); the target is another data directory. See `tinyreg/registry/transfer.py` for what is
copied and how a copy is verified and resumed.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from tinyreg.config import ConfigError, load_settings


def add_migrate_command(commands: Any) -> None:
    parser = commands.add_parser(
        "migrate",
        help="copy the whole registry (metadata, blobs, users, projects, tokens) into other storage",
        description="Copy the whole registry into another data directory, verifying every digest. "
        "Run it again after an interruption (or after more pushes): it copies only what is missing.",
    )
    parser.add_argument("--to", required=True, metavar="TARGET", help="the data directory to copy into (created if new)")
    parser.add_argument("--data", help="the data directory to copy from (default ./tinyreg-data; env TINYREG_DATA)")
    parser.add_argument("--config", type=Path, help="TOML file whose `data` names the data directory to copy from")
    parser.add_argument("--json", action="store_true", help="print what was copied as JSON")


def run_migrate(args: argparse.Namespace) -> int:
    import trio

    from tinyreg.datadir import DataDirError, check_data_dir
    from tinyreg.registry.transfer import TransferError, transfer
    from tinyreg.storage.opening import open_blobs, open_meta

    try:
        settings = load_settings({"data": args.data} if args.data else {}, config_file=args.config)
        source = check_data_dir(settings.data, create=False)
        target = Path(args.to).resolve()
        if target == source:
            raise DataDirError(f"the target {target} is the data directory being copied")
        target = check_data_dir(target, create=True)
        print(f"tinyreg: copying {source} into {target}", file=sys.stderr)
        metas = open_meta(source), open_meta(target)
        try:
            report = trio.run(
                lambda: transfer(
                    metas[0], open_blobs(source), metas[1], open_blobs(target), progress=lambda m: print(m, file=sys.stderr)
                )
            )
        finally:
            for meta in metas:
                meta.close()
    except ConfigError as exc:
        print(f"tinyreg: {exc}", file=sys.stderr)
        return 2
    except (DataDirError, TransferError, OSError) as exc:
        print(f"tinyreg: {exc}", file=sys.stderr)
        return 1
    document = report.to_json()
    if args.json:
        print(json.dumps(document))
    else:
        print(
            f"copied {document.get('repositories', 0)} repositories, {document.get('manifests', 0)} manifests, "
            f"{document.get('tags', 0)} tags, {report.blobs_copied} blobs ({report.blob_bytes} bytes; "
            f"{report.blobs_present} were there already), {document.get('users', 0)} users, "
            f"{document.get('projects', 0)} projects, {document.get('tokens', 0)} tokens; every digest verified"
        )
    return 0

"""`tinyreg migrate --to TARGET`: copy the whole registry into other storage, verified and resumable.

The source is the storage the other commands use (`--data`, `--metadata`, `--blobs`, or their
environment variables and TOML keys). The target is a data directory, or a PostgreSQL database
(`--to postgresql://...`) with its blobs in S3 (`--to-blobs s3://bucket/prefix`) or in the files
of `--to-data DIR`. Moving up and back are the same command with the roles swapped. S3 is
reached with the `[s3]` settings or the AWS variables, for both sides. See
`tinyreg/registry/transfer.py` for what is copied and how a copy is verified and resumed.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from tinyreg.config import ConfigError, Settings, load_settings, s3_options


def add_migrate_command(commands: Any) -> None:
    parser = commands.add_parser(
        "migrate",
        help="copy the whole registry (metadata, blobs, users, projects, tokens) into other storage",
        description="Copy the whole registry into other storage, verifying every digest. Run it again after an "
        "interruption (or after more pushes): it copies only what is missing.",
    )
    parser.add_argument("--to", required=True, metavar="TARGET", help="a data directory, or postgresql://user@host/db")
    parser.add_argument("--to-blobs", metavar="BLOBS", help="where the target's blobs go: s3://bucket/prefix (default: files)")
    parser.add_argument(
        "--to-data", metavar="DIR", help="the target's data directory when --to is a database and blobs are files"
    )
    parser.add_argument("--data", help="the data directory to copy from (default ./tinyreg-data; env TINYREG_DATA)")
    parser.add_argument("--metadata", help="the database to copy from, when the metadata is in PostgreSQL")
    parser.add_argument("--blobs", help="where the blobs to copy are, when in S3: s3://bucket/prefix")
    parser.add_argument("--config", type=Path, help="TOML file with the source's settings (data, metadata, blobs, [s3])")
    parser.add_argument("--json", action="store_true", help="print what was copied as JSON")


def _describe(metadata: str, data: Path, blobs: str) -> str:
    where = "PostgreSQL" if metadata else str(data)
    return f"{where} with blobs in {blobs}" if blobs else where


def _target(args: argparse.Namespace) -> tuple[str, Path, str]:
    """The target's metadata URL (empty: LMDB), data directory and blobs URL (empty: files)."""
    from tinyreg.storage.pg.urls import is_postgresql_url

    blobs = args.to_blobs or ""
    if blobs and not blobs.startswith("s3://"):
        raise ConfigError(f"--to-blobs must be an s3://bucket/prefix, not {blobs!r}")
    if is_postgresql_url(args.to):
        if not blobs and not args.to_data:
            raise ConfigError("--to names a database: say where its blobs go, --to-blobs s3://... or --to-data DIR")
        return args.to, Path(args.to_data or ".").resolve(), blobs
    if args.to_data:
        raise ConfigError("--to-data is for a database target; --to names the data directory already")
    return "", Path(args.to).resolve(), blobs


def _source(settings: Settings) -> tuple[str, Path, str]:
    from tinyreg.datadir import check_data_dir

    data = settings.data.resolve()
    if not settings.metadata or not settings.blobs:  # something of the source lives in its data directory
        data = check_data_dir(settings.data, create=False)
    return settings.metadata, data, settings.blobs


def run_migrate(args: argparse.Namespace) -> int:
    import trio

    from tinyreg.datadir import DataDirError, check_data_dir
    from tinyreg.registry.transfer import TransferError, transfer
    from tinyreg.storage.opening import open_blobs, open_meta

    flags = {key: value for key in ("data", "metadata", "blobs") if (value := getattr(args, key))}
    try:
        settings = load_settings(flags, config_file=args.config)
        source, target = _source(settings), _target(args)
        if source == target:
            raise DataDirError(f"the target is the storage being copied: {_describe(*source)}")
        if not target[0] or not target[2]:
            check_data_dir(target[1], create=True)
        print(f"tinyreg: copying {_describe(*source)} into {_describe(*target)}", file=sys.stderr)
        s3 = s3_options(settings)
        metas = open_meta(source[1], source[0]), open_meta(target[1], target[0])
        try:
            stores = open_blobs(source[1], source[2], s3, meta=metas[0]), open_blobs(target[1], target[2], s3, meta=metas[1])
            report = trio.run(
                lambda: transfer(metas[0], stores[0], metas[1], stores[1], progress=lambda m: print(m, file=sys.stderr))
            )
        finally:
            for meta in metas:
                meta.close()
    except ConfigError as exc:
        print(f"tinyreg: {exc}", file=sys.stderr)
        return 2
    except (DataDirError, TransferError, OSError, ValueError) as exc:
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

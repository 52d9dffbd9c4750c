"""Finding, creating and opening a data directory, with one-line errors naming its absolute path.

Only `tinyreg serve` and `--init` create one: any other command on a missing directory would
otherwise work on a new, empty store and report success (a typo in `--data` going unnoticed).
"""

from __future__ import annotations

from pathlib import Path

import lmdb

from tinyreg.storage import private
from tinyreg.storage.interfaces import MetaStore
from tinyreg.storage.opening import open_meta as _open_store

HINT = "name the right one with --data (or TINYREG_DATA, or data in --config), or create it with `tinyreg serve` or --init"


class DataDirError(Exception):
    """A data directory that cannot be used; the message names its absolute path."""


def is_data_dir(path: Path) -> bool:
    """Whether `path` holds a tinyreg data directory (its LMDB metadata)."""
    return (path / "meta" / "data.mdb").is_file()


def check_data_dir(path: Path, *, create: bool, metadata: str = "") -> Path:
    """The absolute `path`, made if `create`; DataDirError if missing or not a tinyreg data directory
    (one with its metadata elsewhere, in the database `metadata` names, need only exist)."""
    path = path.absolute()
    if create:
        try:
            private.make_dir(path)  # owner-only, whatever the umask
        except OSError as exc:
            raise DataDirError(f"cannot create data directory {path}: {exc.strerror or exc}") from None
        return path
    if not path.exists():
        raise DataDirError(f"no data directory at {path}: {HINT}")
    if not metadata and not is_data_dir(path):
        raise DataDirError(f"{path} is not a tinyreg data directory (no meta/data.mdb): {HINT}")
    return path


def open_meta(path: Path, metadata: str = "") -> MetaStore:
    """Open the metadata of the data directory `path` (or of the database `metadata` names), making it
    if needed; DataDirError if impossible."""
    try:
        return _open_store(path, metadata)
    except (OSError, lmdb.Error) as exc:
        if metadata and not getattr(exc, "filename", None):  # the database, not a file of the directory
            raise DataDirError(f"cannot open the metadata database: {describe(exc)}") from None
        raise DataDirError(f"cannot open data directory {path}: {describe(exc)}") from None
    except RuntimeError as exc:  # a database migrated by a newer tinyreg
        if not metadata:
            raise
        raise DataDirError(f"cannot open the metadata database: {exc}") from None


def describe(exc: BaseException) -> str:
    """A short reason for an OSError or LMDB error, with the file it concerns."""
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.strerror} ({exc.filename})" if exc.filename else exc.strerror
    return str(exc).strip() or type(exc).__name__


def count_users(meta: MetaStore) -> int:
    """How many users the data directory holds."""
    from tinyreg.access.store import AccessStore  # only with --auth: an open registry loads no auth layer

    return len(AccessStore(meta).users())

"""Owner-only files and directories: the data directory holds password and token hashes and
every pushed blob, so nothing in it is created readable (or writable) by others, whatever the
process umask. Modes are given explicitly at creation (a umask can only take bits away)."""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

DIR_MODE = 0o700
FILE_MODE = 0o600
SHARED_BITS = stat.S_IRWXG | stat.S_IRWXO

log = logging.getLogger("tinyreg")


def make_dir(path: Path) -> None:
    """Create `path` and any missing parents owner-only (existing ones are left as they are)."""
    try:
        os.mkdir(path, DIR_MODE)
    except FileExistsError:
        return
    except FileNotFoundError:
        make_dir(path.parent)
        try:
            os.mkdir(path, DIR_MODE)
        except FileExistsError:
            return


def create_file(path: Path, *, exclusive: bool = True) -> int:
    """Open a new owner-only file for writing; its descriptor."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_EXCL if exclusive else os.O_TRUNC)
    return os.open(path, flags, FILE_MODE)


def write_file(path: Path, data: bytes) -> None:
    """Write `data` to `path` (replacing it), owner-only."""
    fd = create_file(path, exclusive=False)
    with os.fdopen(fd, "wb") as file:
        file.write(data)


def warn_if_shared(*paths: Path) -> list[Path]:
    """Log a warning for each of `paths` that group or others may access; return those."""
    shared = []
    for path in paths:
        try:
            mode = path.stat().st_mode
        except FileNotFoundError:
            continue
        if mode & SHARED_BITS:
            shared.append(path)
            log.warning("%s is accessible to group or others (mode %o): run chmod -R go-rwx on it", path, mode & 0o777)
    return shared

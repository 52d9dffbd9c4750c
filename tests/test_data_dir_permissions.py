"""The data directory holds password and token hashes and every pushed blob: all of it is created
owner-only (directories 0700, files 0600) whatever the umask, and a shared one is warned about."""

from __future__ import annotations

import logging
import os
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from tinyreg.registry.core import Registry

# Everything that creates files: a served registry with --auth (keys, users, tokens), a push, an
# upload left open, a garbage collection that sets blobs aside, a key rotation.
EXERCISE = textwrap.dedent(
    """
    import os, sys
    os.umask(int(sys.argv[2], 8))
    from tinyreg.access.jwt import KeyRing
    from tinyreg.registry.gc import collect
    from tinyreg.testing import run_registry

    with run_registry(sys.argv[1], auth=True) as registry:
        registry.create_user("alice", "a-long-password", admin=True)
        registry.create_token("alice")
        registry.push_image("team/app", "v1")
        registry.push_blob("team/app", b"an unreferenced layer")
        inner = registry._registry
        inner.uploads.start("team/app")
        collect(inner.meta, inner.store, grace=-1)
        KeyRing(registry.data_dir / "keys", max_token_age=60).rotate()
    """
)


def _shared(root: Path) -> list[str]:
    return [
        f"{path.relative_to(root)} {stat.S_IMODE(path.lstat().st_mode):o}"
        for path in [root, *root.rglob("*")]
        if path.lstat().st_mode & (stat.S_IRWXG | stat.S_IRWXO)
    ]


@pytest.mark.parametrize("umask", ["022", "000"])
def test_nothing_in_the_data_directory_is_open_to_group_or_others(tmp_path: Path, umask: str) -> None:
    data = tmp_path / "data"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    subprocess.run([sys.executable, "-c", EXERCISE, str(data), umask], check=True, env=env, timeout=120)
    kinds = {p.relative_to(data).parts[0] for p in data.rglob("*") if p.is_file()}
    assert {"meta", "blobs", "uploads", "keys", "gc.lock"} <= kinds, kinds
    assert (data / "trash").is_dir()
    assert _shared(data) == []


def test_a_data_directory_open_to_others_is_warned_about(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    data = tmp_path / "data"
    Registry(data).close()
    assert not caplog.records
    os.chmod(data, 0o755)
    os.chmod(data / "meta" / "data.mdb", 0o644)
    with caplog.at_level(logging.WARNING, logger="tinyreg"):
        Registry(data).close()
    warned = " ".join(record.getMessage() for record in caplog.records)
    assert str(data) in warned and "data.mdb" in warned

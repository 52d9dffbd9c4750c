"""`tinyreg db stats` and `tinyreg db compact`: free pages given back, nothing lost, and no
compaction while a server or a garbage collection uses the data directory."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tinyreg.storage.interfaces import MetaWriter
from tinyreg.storage.opening import open_blobs, open_meta

from tests.processes import ServerProcess, clean_env, tinyreg_command


def db(data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = tinyreg_command("db", *args, "--data", str(data))
    return subprocess.run(command, env=clean_env(), capture_output=True, text=True, timeout=120)


def filled_then_emptied(data: Path) -> None:
    """Many rows written, then most deleted: the file keeps its pages, as free ones."""
    meta = open_meta(data)
    try:
        for batch in range(20):

            def add(tx: MetaWriter, batch: int = batch) -> None:
                for n in range(500):
                    tx.put_user(f"user-{batch}-{n}", {"admin": False, "padding": "x" * 200})

            meta.write(add)

        def remove(tx: MetaWriter) -> None:
            for batch in range(20):
                for n in range(500):
                    if n or batch:
                        tx.delete_user(f"user-{batch}-{n}")

        meta.write(remove)
    finally:
        meta.close()


def test_compaction_gives_free_pages_back_and_keeps_every_entry(tmp_path: Path) -> None:
    data = tmp_path / "data"
    filled_then_emptied(data)
    before = json.loads(db(data, "stats", "--json").stdout)
    assert before["pages_free"] > before["pages_used"] and before["entries"]["users"] == 1
    done = db(data, "compact", "--json")
    assert done.returncode == 0, done.stderr
    sizes = json.loads(done.stdout)
    assert sizes["bytes_after"] < sizes["bytes_before"] / 4
    after = json.loads(db(data, "stats", "--json").stdout)
    assert after["entries"] == before["entries"] and after["pages_free"] < before["pages_free"]
    assert not (data / "meta" / "data.mdb.old").exists()
    meta = open_meta(data)
    try:
        with meta.read() as tx:
            assert tx.user("user-0-0") == {"admin": False, "padding": "x" * 200}
    finally:
        meta.close()


def test_compaction_refuses_while_a_server_or_a_collection_uses_the_data_directory(tmp_path: Path) -> None:
    data = tmp_path / "data"
    filled_then_emptied(data)
    with ServerProcess(["serve", "--port", "0", "--data", str(data)], cwd=tmp_path) as server:
        server.wait_listening()
        refused = db(data, "compact")
        assert refused.returncode == 1 and "a server is using" in refused.stderr
        assert server.stop() == 0
    with open_blobs(data).collection_lock():
        refused = db(data, "compact")
        assert refused.returncode == 1 and "garbage collection is running" in refused.stderr
    assert db(data, "compact").returncode == 0

"""Usage on the command line and across process deaths: `tinyreg usage`, `--recompute`, the usage
column of `project list`, `project update --size-limit`, the first count of an older data directory,
and a registry killed (SIGKILL) in the middle of pushes and deletes, after which nothing drifted."""

from __future__ import annotations

import json
import random
import signal
import threading
from pathlib import Path

import cbor2
import httpx
from tinyreg.storage.interfaces import UsageRef
from tinyreg.storage.meta import Meta
from tinyreg.storage.opening import open_meta
from tinyreg.testing import run_registry

from tests.auth_helpers import admin_ok, tinyreg_admin
from tests.helpers import api_client, digest_of, push_blob
from tests.manifest_builders import OCI_CONFIG, OCI_LAYER, OCI_MANIFEST, descriptor, encode, push_image
from tests.processes import ServerProcess, clean_env

D = "sha256:" + "d" * 64


def test_usage_is_shown_per_project_with_limits_and_registry_wide(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with run_registry(data) as registry, api_client(registry.url) as client:
        registry.create_project("team/app")
        registry.create_project("solo")
        push_image(client, "team/app", "v1", seed="one")
        push_image(client, "team/app/api", "v1", seed="one")  # the same image again: counted once in the project
    one = admin_ok(data, "usage")
    projects = {p["path"]: p for p in one["projects"]}
    assert projects["solo"] == {"path": "solo", "usage": 0, "limit": None, "percent": None}
    used = projects["team/app"]["usage"]
    assert used > 200 and one["stored_bytes"] == used  # nothing else is stored
    assert admin_ok(data, "project", "update", "team/app", "--size-limit", "2KB")["size_limit"] == 2000
    detail = admin_ok(data, "usage", "team/app")
    assert (detail["limit"], detail["percent"]) == (2000, round(100 * used / 2000, 1))
    assert detail["repositories"] == [{"repository": "team/app", "usage": used}, {"repository": "team/app/api", "usage": used}]
    text = tinyreg_admin(data, "usage").stdout
    assert "team/app" in text and "2 KB" in text and "stored in all:" in text
    listed = tinyreg_admin(data, "project", "list").stdout.splitlines()
    assert listed[0].split() == ["ID", "PATH", "VISIBILITY", "REGISTRY", "USAGE"]
    assert listed[2].endswith(f"/ 2 KB ({round(100 * used / 2000, 1):g}%)")
    assert admin_ok(data, "project", "update", "team/app", "--size-limit", "none")["size_limit"] is None
    assert admin_ok(data, "usage", "team/app")["limit"] is None
    env = clean_env(TINYREG_DEFAULT_SIZE_LIMIT="1GiB")
    assert json.loads(tinyreg_admin(data, "usage", "solo", "--json", env=env).stdout)["limit"] == 2**30
    assert admin_ok(data, "project", "update", "team/app", "--size-limit", "default")["size_limit"] == "default"
    done = tinyreg_admin(data, "project", "update", "team/app", "--size-limit", "lots")
    assert done.returncode == 1 and "expected a size such as" in done.stderr


def test_recompute_reports_drift_and_fixes_it(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with run_registry(data) as registry, api_client(registry.url) as client:
        registry.create_project("team")
        push_image(client, "team/app", "v1")
    assert admin_ok(data, "usage", "--recompute")["drift"] == {"owners": [], "stored_bytes": None}
    meta = open_meta(data)
    try:

        def damage(tx):  # type: ignore[no-untyped-def]
            tx.set_usage_total("project", "team", 1)
            tx.set_usage_refs("repository", "team/app", {D: UsageRef(3, 7)})
            tx.set_stored_bytes(5)

        meta.write(damage)
    finally:
        meta.close()
    drift = admin_ok(data, "usage", "--recompute")["drift"]
    kinds = {(d["kind"], d["owner"]) for d in drift["owners"]}
    assert kinds == {("project", "team"), ("repository", "team/app")} and drift["stored_bytes"]["stored"] == 5
    assert admin_ok(data, "usage", "--recompute")["drift"] == {"owners": [], "stored_bytes": None}
    assert "recounted: no drift" in tinyreg_admin(data, "usage", "--recompute").stdout


def test_a_data_directory_from_before_usage_is_counted_at_its_first_open(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with run_registry(data) as registry, api_client(registry.url) as client:
        registry.create_project("team")
        push_image(client, "team/app", "v1")
        with registry._registry.meta.read() as tx:
            expected = (tx.usage_total("project", "team"), tx.stored_bytes())
    raw = Meta(data / "meta")  # make it look written by a version that kept no usage
    try:

        def forget(txn):  # type: ignore[no-untyped-def]
            txn.drop(raw.db["usage"], delete=False)
            txn.delete(b"usage_counted", db=raw.db["counters"])
            txn.put(b"version", cbor2.dumps(2), db=raw.db["schema"])

        raw.write(forget)
    finally:
        raw.close()
    with run_registry(data) as registry:
        with registry._registry.meta.read() as tx:
            assert (tx.usage_total("project", "team"), tx.stored_bytes()) == expected


class Pusher:
    """Threads pushing small images with shared layers and deleting some, until told to stop."""

    def __init__(self, url: str, seed: int) -> None:
        self.url = url
        self.done = 0
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._work, args=(seed * 10 + n,), daemon=True) for n in range(3)]
        for thread in self.threads:
            thread.start()

    def _work(self, seed: int) -> None:
        chance = random.Random(seed)
        with httpx.Client(base_url=self.url, timeout=30) as client:
            try:
                while not self.stop.is_set():
                    repo = f"crash/r{chance.randrange(3)}"
                    config = json.dumps({"n": chance.randrange(1000)}).encode()
                    layers = [bytes([chance.randrange(6)]) * 5000 for _ in range(2)]  # few distinct layers: shared
                    for blob in (config, *layers):
                        push_blob(client, repo, blob)
                    document = {
                        "schemaVersion": 2,
                        "mediaType": OCI_MANIFEST,
                        "config": descriptor(OCI_CONFIG, config),
                        "layers": [descriptor(OCI_LAYER, layer) for layer in dict.fromkeys(layers)],
                    }
                    body = encode(document)
                    client.put(
                        f"/v2/{repo}/manifests/t{chance.randrange(5)}", content=body, headers={"Content-Type": OCI_MANIFEST}
                    )
                    if chance.random() < 0.4:
                        client.delete(f"/v2/{repo}/manifests/{digest_of(body)}")
                    with self.lock:
                        self.done += 1
            except (httpx.HTTPError, AssertionError):
                return  # the registry was killed under us


def test_after_a_kill_at_any_point_a_recount_finds_no_drift(tmp_path: Path) -> None:
    data = tmp_path / "data"
    admin_ok(data, "project", "create", "crash", "--init")
    for round_no, kill_after in enumerate((3, 11, 25)):
        server = ServerProcess(["serve", "--port", "0", "--data", str(data), "--log-level", "warning"], cwd=tmp_path)
        with server:
            pusher = Pusher(server.wait_listening(), round_no)
            for _ in range(6000):  # bounded: 6000 x 10 ms
                if pusher.done >= kill_after or pusher.stop.wait(0.01):
                    break
            server.process.send_signal(signal.SIGKILL)
            server.wait_exit()
            pusher.stop.set()
            for thread in pusher.threads:
                thread.join(timeout=60)
        assert pusher.done >= kill_after
        assert admin_ok(data, "usage", "--recompute")["drift"] == {"owners": [], "stored_bytes": None}
    assert admin_ok(data, "usage", "crash")["usage"] > 0

"""Moves while 8 clients push and 8 pull over HTTP: nothing acknowledged is lost.

The project moves twice (`tinyreg project move`, a process beside the server) while pushers push
new tags into its repositories. A pusher refused with DENIED (the old name is now a read-only
alias) reads the new name from the error and pushes there again, as a person would; every push
the registry acknowledged with 201 must then pull back byte for byte by the final name. Pullers
pull acknowledged images by the first name throughout (the aliases lead on, chained): whatever
they get is the right bytes, and each pull succeeds within a few tries (a pull racing the
commit of a move may miss once).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path

import httpx
from tinyreg.samples import Sample, image, sha256

from tests.auth_helpers import admin_ok
from tests.helpers import api_client
from tests.processes import ServerProcess

PUSHERS = 8
PULLERS = 8
TAGS = 12  # per pusher
NAMES = ("team/app", "moved/app", "final/app")  # the project's paths, in order
TRIES = 5


class Refused(Exception):
    def __init__(self, moved_to: str | None, text: str) -> None:
        super().__init__(text)
        self.moved_to = moved_to


def _check(response: httpx.Response, expected: int) -> None:
    if response.status_code == expected:
        return
    moved_to = None
    if response.status_code in (403, 404):  # DENIED by an old name, or BLOB_UPLOAD_UNKNOWN of an upload a move cancelled
        errors = response.json().get("errors") or [{}]
        moved_to = (errors[0].get("detail") or {}).get("moved_to")
    raise Refused(moved_to, f"{response.status_code} {response.text[:300]}")


def push(client: httpx.Client, repo: str, tag: str, sample: Sample) -> None:
    for blob in sample.blobs:
        _check(client.post(f"/v2/{repo}/blobs/uploads/", params={"digest": sha256(blob)}, content=blob), 201)
    _check(client.put(f"/v2/{repo}/manifests/{tag}", content=sample.manifest, headers={"Content-Type": sample.media_type}), 201)


def pull_ok(client: httpx.Client, repo: str, tag: str, sample: Sample) -> bool | None:
    """True when right, None when missing (a pull racing a move), False when wrong bytes came back."""
    response = client.get(f"/v2/{repo}/manifests/{tag}", headers={"Accept": sample.media_type})
    if response.status_code != 200:
        return None
    if response.content != sample.manifest:
        return False
    for blob in sample.blobs:
        got = client.get(f"/v2/{repo}/blobs/{sha256(blob)}")
        if got.status_code != 200:
            return None
        if got.content != blob:
            return False
    return True


def test_a_project_moves_twice_while_sixteen_clients_push_and_pull(tmp_path: Path) -> None:
    data = tmp_path / "data"
    admin_ok(data, "project", "create", NAMES[0], "--init")
    for group in ("moved", "final"):
        admin_ok(data, "group", "create", group)
    samples = {(p, k): image(seed=f"move-{p}-{k}", layers=2) for p in range(PUSHERS) for k in range(TAGS)}
    acked: list[tuple[int, int]] = []
    failures: list[str] = []
    lock = threading.Lock()
    done = threading.Event()
    moves_may_start = threading.Event()
    first_move_done = threading.Event()
    redirected: list[str] = []

    with ServerProcess(["serve", "--port", "0", "--data", str(data)], cwd=tmp_path) as server:
        url = server.wait_listening()

        def pusher(p: int) -> None:
            repo = f"{NAMES[0]}/r{p}"
            with api_client(url) as client:
                for k in range(TAGS):
                    if k == TAGS // 2:  # the second half goes after the first move: each pusher meets an old name
                        assert first_move_done.wait(timeout=300)
                    for _ in range(TRIES):
                        try:
                            push(client, repo, f"t{k}", samples[p, k])
                            break
                        except Refused as refused:
                            if refused.moved_to is None:
                                raise
                            repo = refused.moved_to  # the old name is an alias now: push where it went
                            with lock:
                                redirected.append(repo)
                    else:
                        raise AssertionError(f"r{p}:t{k} was refused {TRIES} times")
                    with lock:
                        acked.append((p, k))
                        if len(acked) >= PUSHERS * 2:  # some pushes acknowledged; the others go on during the moves
                            moves_may_start.set()

        def puller(n: int) -> None:
            with api_client(url) as client:
                for _ in range(400):  # bounded; stops once pushing and moving are done
                    with lock:
                        batch = acked[n::PULLERS][-3:]
                    for p, k in batch:
                        results = []
                        for _ in range(TRIES):
                            results.append(pull_ok(client, f"{NAMES[0]}/r{p}", f"t{k}", samples[p, k]))
                            if results[-1] is not None:
                                break
                        if results[-1] is not True:
                            with lock:
                                failures.append(f"pull of r{p}:t{k} by its first name: {results}")
                    if done.is_set():
                        return

        def guarded(target: Callable[[int], None], n: int) -> None:
            try:
                target(n)
            except BaseException as exc:  # noqa: BLE001 - reported by the main thread
                with lock:
                    failures.append(repr(exc))

        pushers = [threading.Thread(target=guarded, args=(pusher, p)) for p in range(PUSHERS)]
        pullers = [threading.Thread(target=guarded, args=(puller, n)) for n in range(PULLERS)]
        for thread in pushers + pullers:
            thread.start()
        assert moves_may_start.wait(timeout=300), failures
        reports = [admin_ok(data, "project", "move", NAMES[0], NAMES[1])]
        first_move_done.set()
        reports.append(admin_ok(data, "project", "move", NAMES[1], NAMES[2]))
        for thread in pushers:
            thread.join(timeout=600)
        done.set()
        for thread in pullers:
            thread.join(timeout=600)
        assert not failures, failures[:5]
        assert len(set(redirected)) >= PUSHERS  # every pusher was sent on by an old name at least once
        assert all(len(report["repositories"]) >= 1 for report in reports)
        assert sorted(acked) == sorted(samples)  # every push was acknowledged in the end
        with api_client(url) as client:
            lost = [(p, k) for p, k in acked if pull_ok(client, f"{NAMES[-1]}/r{p}", f"t{k}", samples[p, k]) is not True]
            assert lost == []
            catalog = client.get("/v2/_catalog", params={"n": 1000}).json()["repositories"]
        assert catalog == sorted(f"{NAMES[-1]}/r{p}" for p in range(PUSHERS))  # nothing left under an old name
    drift = json.loads(json.dumps(admin_ok(data, "usage", "--recompute")["drift"]))
    assert drift == {"owners": [], "stored_bytes": None}

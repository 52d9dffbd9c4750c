"""`tinyreg project move`, or the server moving through the API, killed with SIGKILL at random points of a
move of a project with 1,000 tags:
the data directory then holds the old layout or the new one, whole and consistent, never a mix,
and a usage recount finds no drift.

The command says which data directory it opens (on stderr) right before it opens it and moves;
each kill comes a random delay after that line, spread over what the rest of one whole move
takes (measured first), so kills land before, during and after the unit of work. Which layout
survives depends on that; what is checked does not.
"""

from __future__ import annotations

import random
import select
import subprocess
import threading
import time
from pathlib import Path

import httpx
from tinyreg.registry.core import Registry
from tinyreg.samples import image
from tinyreg.storage.opening import open_meta

from tests.auth_helpers import admin_ok
from tests.processes import ServerProcess, clean_env, tinyreg_command

PATHS = ("team/app", "other/app")
TAGS = {"": 600, "/api": 400}  # tags per repository of the project (1,000 in all)
KILLS = 10
SERVER_KILLS = 6  # each restarts a server: fewer


def seed(data: Path) -> None:
    admin_ok(data, "project", "create", PATHS[0], "--init")
    admin_ok(data, "group", "create", "other")
    registry = Registry(data)
    try:
        for suffix, count in TAGS.items():
            repo = PATHS[0] + suffix
            samples = [image(seed=f"crash{suffix}-{n}", layers=2) for n in range(10)]
            for sample in samples:
                for blob in sample.blobs:
                    registry.blobs.put_bytes(repo, blob)
            for n in range(count):
                sample = samples[n % len(samples)]
                registry.manifests.put(repo, f"t{n}", sample.manifest, sample.media_type)
    finally:
        registry.close()
    admin_ok(data, "cleanup-policy", "set", PATHS[0], "--keep-n", "10")


def layout(data: Path, project_id: int, total: int) -> str:
    """Where the project is, after checking that everything of it is there and nothing elsewhere."""
    meta = open_meta(data)
    try:
        with meta.read() as tx:
            here = [path for path in PATHS if tx.project(path) is not None]
            assert len(here) == 1, here
            there = PATHS[1 - PATHS.index(here[0])]
            for suffix, count in TAGS.items():
                assert sum(1 for _ in tx.iter_tags(here[0] + suffix)) == count
                assert tx.has_repository(here[0] + suffix)
            assert tx.repositories_under(there) == [] and list(tx.iter_tags(there)) == []
            assert tx.project_by_id(project_id) == (here[0], tx.project(here[0]))
            assert tx.cleanup_policy(here[0]) is not None and tx.cleanup_policy(there) is None
            assert tx.usage_total("project", here[0]) == total and tx.usage_total("project", there) == 0
            alias = tx.alias(there)
            assert tx.alias(here[0]) is None and (alias is None or alias["target"] == here[0])
            return here[0]
    finally:
        meta.close()


def move_process(data: Path, old: str, new: str) -> subprocess.Popen[bytes]:
    """`tinyreg project move OLD NEW`, once it has said which data directory it opens (its first stderr line)."""
    process = subprocess.Popen(
        tinyreg_command("project", "move", old, new, "--data", str(data), "--json"),
        env=clean_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    assert process.stderr is not None
    ready, _, _ = select.select([process.stderr], [], [], 60)
    assert ready and b"data directory" in process.stderr.readline()
    return process


def finish(process: subprocess.Popen[bytes]) -> int:
    assert process.stderr is not None
    process.stderr.read()
    return process.wait(timeout=120)


def test_a_move_killed_at_random_points_leaves_one_layout_or_the_other(tmp_path: Path) -> None:
    data = tmp_path / "data"
    seed(data)
    project = admin_ok(data, "project", "list")[0]
    total = admin_ok(data, "usage", PATHS[0])["usage"]
    assert total > 0

    process = move_process(data, PATHS[0], PATHS[1])  # one whole move, to learn how long the rest takes
    began = time.monotonic()
    assert finish(process) == 0
    whole = time.monotonic() - began
    assert layout(data, project["id"], total) == PATHS[1]
    assert finish(move_process(data, PATHS[1], PATHS[0])) == 0
    where = layout(data, project["id"], total)

    chance = random.Random(20261203)
    seen = {PATHS[0]: 0, PATHS[1]: 0}
    for _ in range(KILLS):
        process = move_process(data, where, PATHS[1 - PATHS.index(where)])
        time.sleep(chance.uniform(0.0, 1.0) * whole)
        process.kill()  # SIGKILL
        finish(process)
        where = layout(data, project["id"], total)
        seen[where] += 1
        assert admin_ok(data, "usage", "--recompute")["drift"] == {"owners": [], "stored_bytes": None}
    print(f"after {KILLS} kills: {seen}")


def test_a_server_killed_during_an_api_move_restarts_on_one_layout_or_the_other(tmp_path: Path) -> None:
    data = tmp_path / "data"
    seed(data)
    project = admin_ok(data, "project", "list")[0]
    total = admin_ok(data, "usage", PATHS[0])["usage"]
    where = PATHS[0]
    chance = random.Random(20261204)
    whole = None
    seen = {PATHS[0]: 0, PATHS[1]: 0}
    for round_no in range(1 + SERVER_KILLS):
        with ServerProcess(["serve", "--port", "0", "--data", str(data)], cwd=tmp_path) as server:
            url = server.wait_listening()
            assert httpx.get(f"{url}/api/v4/projects/{project['id']}", timeout=60).status_code == 200  # the pages' start-up
            namespace = PATHS[1 - PATHS.index(where)].rpartition("/")[0]
            answers: list[int] = []

            def transfer(url: str = url, namespace: str = namespace, answers: list[int] = answers) -> None:
                try:
                    reply = httpx.put(
                        f"{url}/api/v4/projects/{project['id']}/transfer", json={"namespace": namespace}, timeout=60
                    )
                    answers.append(reply.status_code)
                except httpx.HTTPError:
                    answers.append(0)  # the server was killed under the request

            mover = threading.Thread(target=transfer)
            began = time.monotonic()
            mover.start()
            if whole is None:  # the first one runs to its end: how long an API move takes
                mover.join(timeout=120)
                whole = time.monotonic() - began
                assert answers == [200]
            else:
                time.sleep(chance.uniform(0.0, 1.5) * whole)
            server.process.kill()  # SIGKILL
            server.wait_exit()
            mover.join(timeout=120)
        where = layout(data, project["id"], total)
        seen[where] += round_no > 0
        assert admin_ok(data, "usage", "--recompute")["drift"] == {"owners": [], "stored_bytes": None}
    print(f"after {SERVER_KILLS} kills of the server: {seen}")

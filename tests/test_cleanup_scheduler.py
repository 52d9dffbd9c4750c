"""The cleanup scheduler inside `tinyreg serve --workers 2`: a due policy runs in one process
at a time, each tag is removed once, and the run is logged."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from tests.helpers import api_client
from tests.manifest_builders import push_image
from tests.processes import ServerProcess, clean_env, tinyreg_command, wait_until

REMOVED = re.compile(r"cleanup removed tag (\S+) \(policy of team/app\)")
RUN = re.compile(r"cleanup run of team/app removed (\d+) tags")


def admin(data: Path, *args: str) -> None:
    done = subprocess.run(
        tinyreg_command(*args, "--data", str(data)), env=clean_env(), capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr


def test_two_workers_run_a_due_policy_once(tmp_path: Path) -> None:
    data = tmp_path / "data"
    admin(data, "project", "create", "team/app", "--init")
    args = ["serve", "--port", "0", "--data", str(data), "--workers", "2", "--cleanup-interval", "0.1", "--gc-interval", "off"]
    # Every cadence shortened to 1 s: the policy falls due a second after it is set, then every second.
    env = clean_env(TINYREG_CLEANUP_CADENCE_SECONDS="1")
    with ServerProcess(args, cwd=tmp_path, env=env) as server:
        url = server.wait_listening()
        with api_client(url) as client:
            for n in range(12):
                push_image(client, "team/app/web", f"build-{n}", seed=f"scheduled-{n}")
        admin(data, "cleanup-policy", "set", "team/app", "--enabled", "--keep-n", "5", "--older-than", "none")
        server.wait_for(RUN, stream="stderr")
        # Later runs, of either worker, find nothing more to remove.
        wait_until(lambda: len(RUN.findall(server.text("stderr"))) >= 4, "later cleanup runs")
        log = server.text("stderr")
        with api_client(url) as client:
            left = client.get(f"{url}/v2/team/app/web/tags/list").json()["tags"]
        assert server.stop() == 0  # the workers stop too (a kill of the parent alone would leave them)
    removed = REMOVED.findall(log)
    assert sorted(removed) == sorted(f"team/app/web:build-{n}" for n in range(7))  # each exactly once
    assert [int(n) for n in RUN.findall(log) if int(n)] == [7]
    assert sorted(left) == sorted(f"build-{n}" for n in range(7, 12))

"""`tinyreg serve --mirror NAME=URL` from the command line, and a config file's mirrors refused with their reason."""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx

from tests.helpers import assert_error
from tests.processes import ServerProcess, clean_env, free_port, tinyreg_command


def test_serve_takes_mirror_flags_and_names_an_unreachable_upstream(tmp_path: Path) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    args = ["serve", "--port", "0", "--data", str(tmp_path / "data"), "--mirror", f"hub={dead}", "--mirror", f"other={dead}"]
    with ServerProcess(args, cwd=tmp_path) as server:
        url = server.wait_listening()
        answer = httpx.get(f"{url}/v2/other/library/alpine/manifests/3.19", timeout=60)
        body = assert_error(answer, 502, "UNKNOWN")
        assert f"upstream other ({dead}) could not be reached for manifest library/alpine:3.19" in str(body)
        assert httpx.get(f"{url}/v2/acme/dependency_proxy/containers/alpine/manifests/1", timeout=60).status_code == 502


def test_mirror_settings_that_cannot_be_used_stop_the_start(tmp_path: Path) -> None:
    config = tmp_path / "tinyreg.toml"
    config.write_text('[mirrors.hub]\nurl = "https://registry-1.docker.io"\ntag_ttl = "soon"\n')
    for args, message in (
        (["--config", str(config)], f"{config}: mirror hub: tag_ttl must be a duration"),
        (["--mirror", "hub"], "--mirror takes NAME=URL"),
        (
            ["--mirror", "hub=https://x.io", "--dependency-proxy-upstream", "ghcr"],
            "dependency_proxy upstream 'ghcr' names no mirror",
        ),
    ):
        done = subprocess.run(
            tinyreg_command("serve", "--port", "0", "--data", str(tmp_path / "data"), *args),
            capture_output=True,
            text=True,
            env=clean_env(),
            timeout=60,
        )
        assert done.returncode == 2 and message in done.stderr, done.stderr

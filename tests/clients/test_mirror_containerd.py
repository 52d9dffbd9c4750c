"""containerd pulling through the cache in registry-mirror mode: a hosts.toml sends every
request to tinyreg with `?ns=<upstream host>`. A containerd daemon runs as a subprocess with
its own root, state and socket in the test's directory (its CRI plugin off)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from tinyreg import samples
from tinyreg.registry.mirrors import Mirror
from tinyreg.testing import run_registry

from tests.mirror_helpers import Distribution, push_sample
from tests.processes import wait_until

from .conftest import require_executable

pytestmark = pytest.mark.clients


@pytest.fixture
def containerd(tmp_path: Path) -> Iterator[list[str]]:
    """The `ctr` command line for a private containerd daemon (namespace `tinyreg-test`)."""
    for tool in ("containerd", "ctr"):
        require_executable(tool)
    root = Path(subprocess.check_output(["mktemp", "-d", "/tmp/ctrd-XXXXXX"], text=True).strip())  # a short socket path
    socket = root / "containerd.sock"
    config = root / "config.toml"
    config.write_text(
        f'version = 2\nroot = "{root}/root"\nstate = "{root}/state"\ndisabled_plugins = ["io.containerd.grpc.v1.cri"]\n'
        f'[grpc]\n  address = "{socket}"\n'
    )
    with (tmp_path / "containerd.log").open("wb") as log:
        daemon = subprocess.Popen(["containerd", "--config", str(config)], stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: socket.exists() or daemon.poll() is not None, "containerd listening", timeout=30)
        assert daemon.poll() is None, (tmp_path / "containerd.log").read_text()[-3000:]
        yield ["ctr", "--address", str(socket), "--namespace", "tinyreg-test"]
    finally:
        daemon.terminate()
        daemon.wait(timeout=30)
        subprocess.run(["rm", "-rf", str(root)], check=False)


@pytest.mark.parametrize("auth", [False, True], ids=["open", "auth"])
def test_ctr_pulls_through_the_cache_with_a_hosts_toml_mirror(
    containerd: list[str], upstream: Distribution, tmp_path: Path, auth: bool
) -> None:
    image = samples.image(layers=2, seed=f"containerd-{auth}")
    push_sample(upstream.url, "library/alpine", "3.19", image)
    with run_registry(auth=auth, mirrors=(Mirror("hub", upstream.url),)) as cache:
        login = []
        if auth:  # containerd asks /token for the scope the challenge names: hub/library/alpine
            cache.create_user("alice", "alice-password-1")
            login = ["--user", "alice:alice-password-1"]
        hosts = tmp_path / "certs.d" / upstream.host
        hosts.mkdir(parents=True)
        (hosts / "hosts.toml").write_text(
            f'server = "{upstream.url}"\n\n[host."{cache.url}"]\n  capabilities = ["pull", "resolve"]\n'
        )
        before = upstream.logged()
        reference = f"{upstream.host}/library/alpine:3.19"
        pulled = subprocess.run(
            [*containerd, "images", "pull", *login, "--hosts-dir", str(tmp_path / "certs.d"), reference],
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert pulled.returncode == 0, pulled.stderr[-3000:]
        agents = upstream.user_agents(since=before)
        assert agents and all(agent.startswith("python-httpx/") for agent in agents), (
            f"containerd went through the mirror, only the cache asked upstream: {agents}"
        )
        for digest, data in [(image.digest, image.manifest), *((samples.sha256(blob), blob) for blob in image.blobs)]:
            stored = subprocess.run([*containerd, "content", "get", digest], capture_output=True, timeout=60)
            assert stored.returncode == 0 and stored.stdout == data, stored.stderr[-2000:]

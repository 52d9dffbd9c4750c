"""Fixtures for the real-client tests: a private sandbox per test, the tools, an oras client.

A missing tool fails the test on CI (`CI=true`) and skips it, loudly, everywhere else.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tinyreg.testing import RunningRegistry

from tests.helpers import require_tool

from .tools import (
    ImageFactory,
    LocalImage,
    RegistryView,
    Sandbox,
    Tool,
    buildah_tool,
    make_sandbox,
    podman_tool,
    private_dirs_prefix,
    random_files,
    skopeo_tool,
    umoci_image,
    umoci_repack,
    umoci_tool,
)

INSTALL_HINT = "apt-get install -y skopeo podman buildah umoci; pip install oras"


def require(condition: bool, what: str) -> None:
    """Fail (on CI) or skip (elsewhere) the test when a client it drives is unavailable."""
    require_tool(condition, what, kind="REAL CLIENT", install=INSTALL_HINT)


def require_executable(name: str) -> None:
    require(shutil.which(name) is not None, f"`{name}` is not on PATH")


@pytest.fixture(scope="session")
def private_dirs_ready(tmp_path_factory: pytest.TempPathFactory) -> None:
    """As root, check that a tool can be given private `/var/lib` and `/run` directories."""
    if os.geteuid() != 0:
        return
    require_executable("unshare")
    probe = tmp_path_factory.mktemp("private-dirs-probe")
    done = subprocess.run([*private_dirs_prefix(probe, probe), "true"], capture_output=True, timeout=30, check=False)
    require(
        done.returncode == 0,
        "running as root, but `unshare --mount` cannot bind private /var/lib and /run: "
        + done.stderr.decode(errors="replace").strip(),
    )


@pytest.fixture
def sandbox(tinyreg: RunningRegistry, tmp_path: Path, private_dirs_ready: None) -> Iterator[Sandbox]:
    """Private HOME, registries.conf, policy, storage, auth files and cache, for a fresh registry."""
    runroot = Path(tempfile.mkdtemp(prefix="tinyreg-run-", dir="/tmp" if os.path.isdir("/tmp") else None))
    try:
        yield make_sandbox(tmp_path / "sandbox", tinyreg, runroot)
    finally:
        shutil.rmtree(runroot, ignore_errors=True)


@pytest.fixture
def skopeo(sandbox: Sandbox) -> Tool:
    require_executable("skopeo")
    return skopeo_tool(sandbox)


@pytest.fixture
def podman(sandbox: Sandbox) -> Tool:
    require_executable("podman")
    return podman_tool(sandbox)


@pytest.fixture
def buildah(sandbox: Sandbox) -> Tool:
    require_executable("buildah")
    return buildah_tool(sandbox)


@pytest.fixture
def umoci(sandbox: Sandbox) -> Tool:
    require_executable("umoci")
    return umoci_tool(sandbox)


@pytest.fixture
def registry_view(tinyreg: RunningRegistry) -> Iterator[RegistryView]:
    """Direct HTTP access to the test's registry."""
    view = RegistryView(tinyreg)
    yield view
    view.close()


@pytest.fixture
def umoci_layout(umoci: Tool, sandbox: Sandbox) -> ImageFactory:
    """Build an image in the sandbox's OCI layout: `(tag, layer_count=1, arch="amd64")`.

    Every layer holds fresh random bytes; with three or more layers the last one is added
    by `umoci unpack` + `umoci repack`, the others by `umoci insert`.
    """
    layout = sandbox.layout

    def build(tag: str, layer_count: int = 1, arch: str = "amd64") -> LocalImage:
        layers = [random_files(f"{tag}-{n}") for n in range(layer_count)]
        repacked = layers.pop() if layer_count >= 3 else None
        image = umoci_image(umoci, layout, tag, layers, arch=arch)
        return umoci_repack(umoci, layout, tag, repacked) if repacked is not None else image

    return build


@pytest.fixture
def oras_client(tinyreg: RunningRegistry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """An oras-py client for the registry over plain HTTP, with its retries turned off."""
    try:
        import oras.provider
    except ImportError:
        require(False, "the oras Python SDK is not installed")
    home = tmp_path / "oras-home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("DOCKER_CONFIG", raising=False)

    class FirstAnswerCounts(oras.provider.Registry):  # type: ignore[misc]
        """oras-py's registry client without the retry-with-backoff wrapper around requests."""

        do_request = oras.provider.Registry.do_request.__wrapped__

    return FirstAnswerCounts(hostname=tinyreg.host, insecure=True)


@pytest.fixture
def cert_dir(sandbox: Sandbox) -> Path:
    """A certificate directory trusting the registry's CA (laid out as `/etc/containers/certs.d/`
    is), and a registries.conf that verifies TLS: for registries served with `tls=True`."""
    assert sandbox.registry.ca_file is not None
    directory = sandbox.etc / "certs.d" / sandbox.registry.host
    directory.mkdir(parents=True)
    (directory / "ca.crt").write_bytes(sandbox.registry.ca_file.read_bytes())
    (sandbox.etc / "registries.conf").write_text(
        f'unqualified-search-registries = []\n\n[[registry]]\nlocation = "{sandbox.registry.host}"\ninsecure = false\n'
    )
    return directory

"""The README's team set-up, end to end: `--auth` over `--tls self-signed`, clients that trust its CA.

No insecure flag anywhere: podman logs in with a personal access token and pushes, buildah
pulls with a deploy token, skopeo copies back; each trusts the registry through a certificate
directory laid out as `/etc/containers/certs.d/HOST:PORT/` is.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tinyreg.testing import RunningRegistry, run_registry

from .tools import Layout, Sandbox, Tool, buildah_scratch_image, random_files

pytestmark = pytest.mark.clients


@pytest.fixture
def tinyreg(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningRegistry]:
    """A registry with the access model on, served over HTTPS with its own CA; alice owns acme/web."""
    with run_registry(tmp_path_factory.mktemp("tinyreg-team"), auth=True, tls=True) as registry:
        registry.create_user("alice", "alices-long-password")
        registry.create_project("acme/web", owner="alice")
        yield registry


def test_the_team_flow_works_over_verified_tls_with_tokens(
    podman: Tool, buildah: Tool, skopeo: Tool, sandbox: Sandbox, cert_dir: Path
) -> None:
    registry, host = sandbox.registry, sandbox.registry.host
    token = registry.create_token("alice", name="laptop")
    trust = ("--cert-dir", str(cert_dir))

    refused = podman.run("login", "-u", "alice", "--password-stdin", host, stdin=token.encode())
    assert refused.returncode != 0 and "certificate" in refused.stderr  # the CA must be trusted first

    podman("login", *trust, "-u", "alice", "--password-stdin", host, stdin=token.encode())
    image = buildah_scratch_image(buildah, "app", [random_files("team-a"), random_files("team-b")])
    podman("push", *trust, image, sandbox.docker("acme/web/app:1.0"))
    podman("rmi", "--all", "--force")
    podman("pull", *trust, sandbox.ref("acme/web/app:1.0"))
    assert sandbox.ref("acme/web/app:1.0") in podman("images", "--format", "{{.Repository}}:{{.Tag}}").text

    deploy_user, deploy_token = registry.create_deploy_token("acme/web", ["read_registry"])
    buildah("login", *trust, "-u", deploy_user, "--password-stdin", host, stdin=deploy_token.encode())
    buildah("pull", *trust, sandbox.ref("acme/web/app:1.0"))
    assert buildah.run("push", *trust, image, sandbox.docker("acme/web/app:1.1")).returncode != 0  # read only

    skopeo("login", *trust, "-u", deploy_user, "--password-stdin", host, stdin=deploy_token.encode())
    back = sandbox.work / "back"
    skopeo("copy", "--src-cert-dir", str(cert_dir), sandbox.docker("acme/web/app:1.0"), f"oci:{back}:copy")
    assert len(Layout(back).image("copy").layers) == 2

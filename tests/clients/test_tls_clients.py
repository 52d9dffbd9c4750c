"""skopeo and podman over HTTPS, verifying the registry's certificate: no insecure flag anywhere.

Each test runs twice: with `--tls self-signed` (the registry's own CA) and with a certificate
made here. The clients trust the CA through a private certificate directory (`--cert-dir`,
laid out as `/etc/containers/certs.d/HOST:PORT/` is), and the sandbox's registries.conf no
longer marks the registry insecure.
"""

from __future__ import annotations

import dataclasses
import json
import ssl
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from tinyreg.selfsigned import make_ca
from tinyreg.testing import RunningRegistry

from tests.tls_helpers import write_pair

from .tools import ImageFactory, Layout, Sandbox, Tool

pytestmark = pytest.mark.clients


@pytest.fixture(params=["self-signed", "own-certificate"])
def tinyreg(request: pytest.FixtureRequest, tinyreg_factory: Callable[..., RunningRegistry], tmp_path: Path) -> RunningRegistry:
    """The test's registry over HTTPS (replaces the plugin's fixture for this module)."""
    if request.param == "self-signed":
        return tinyreg_factory(tls=True)
    ca_pem, ca_key = make_ca("test CA")
    (tmp_path / "own-ca.crt").write_bytes(ca_pem)
    cert, key = write_pair(tmp_path / "own-pair", (ca_pem, ca_key), ["127.0.0.1"])
    registry = tinyreg_factory(tls_cert=str(cert), tls_key=str(key))
    return dataclasses.replace(registry, ca_file=tmp_path / "own-ca.crt")


def served_manifest(registry: RunningRegistry, name: str, reference: str) -> httpx.Response:
    assert registry.ca_file is not None
    verify = ssl.create_default_context(cafile=str(registry.ca_file))
    accept = "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json"
    response = httpx.get(f"{registry.url}/v2/{name}/manifests/{reference}", headers={"Accept": accept}, verify=verify)
    assert response.status_code == 200, response.text
    return response


def test_skopeo_pushes_and_pulls_over_verified_tls(
    skopeo: Tool, sandbox: Sandbox, umoci_layout: ImageFactory, cert_dir: Path
) -> None:
    image = umoci_layout("v1", layer_count=2)
    source = f"oci:{sandbox.layout}:v1"

    refused = skopeo.fails("copy", source, sandbox.docker("group/project:v1"))  # verification is on
    assert "certificate" in refused.stderr

    skopeo("copy", "--preserve-digests", "--dest-cert-dir", str(cert_dir), source, sandbox.docker("group/project:v1"))
    assert served_manifest(sandbox.registry, "group/project", "v1").content == image.manifest
    inspected = json.loads(skopeo("inspect", "--raw", "--cert-dir", str(cert_dir), sandbox.docker("group/project:v1")).stdout)
    assert inspected["layers"] == image.document["layers"]
    back = sandbox.work / "back"
    skopeo("copy", "--src-cert-dir", str(cert_dir), sandbox.docker("group/project:v1"), f"oci:{back}:copy")
    assert Layout(back).image("copy").layers == image.layers


def test_podman_pulls_and_pushes_over_verified_tls(
    skopeo: Tool, podman: Tool, sandbox: Sandbox, umoci_layout: ImageFactory, cert_dir: Path
) -> None:
    umoci_layout("v1")
    skopeo("copy", "--dest-cert-dir", str(cert_dir), f"oci:{sandbox.layout}:v1", sandbox.docker("group/project:v1"))

    podman("pull", "--cert-dir", str(cert_dir), sandbox.ref("group/project:v1"))
    podman("tag", sandbox.ref("group/project:v1"), sandbox.ref("group/project/copy:v2"))
    podman("push", "--cert-dir", str(cert_dir), sandbox.ref("group/project/copy:v2"))

    pushed = served_manifest(sandbox.registry, "group/project/copy", "v2").json()
    original = served_manifest(sandbox.registry, "group/project", "v1").json()
    assert [layer["size"] for layer in pushed["layers"]] == [layer["size"] for layer in original["layers"]]

"""skopeo against images pushed by `RunningRegistry.push_image`: the README's "real client" example."""

from __future__ import annotations

import gzip
import json

import pytest
from tinyreg.testing import RunningRegistry

from .tools import OCI_MANIFEST, Layout, RegistryView, Sandbox, Tool, sha256

pytestmark = pytest.mark.clients


@pytest.mark.parametrize(("layers", "architecture"), [(1, "amd64"), (3, "amd64"), (2, "arm64")])
def test_skopeo_inspects_an_image_pushed_by_the_helper(
    tinyreg: RunningRegistry, skopeo: Tool, registry_view: RegistryView, layers: int, architecture: str
) -> None:
    digest = tinyreg.push_image("team/app", "1.0", layers=layers, architecture=architecture)

    inspected = skopeo("inspect", "--tls-verify=false", f"docker://{tinyreg.host}/team/app:1.0").json()
    assert inspected["Digest"] == digest
    assert (inspected["Architecture"], inspected["Os"]) == (architecture, "linux")
    assert len(inspected["Layers"]) == layers
    raw = skopeo("inspect", "--raw", "--tls-verify=false", f"docker://{tinyreg.host}/team/app@{digest}").stdout
    assert raw == registry_view.present_manifest("team/app", "1.0").content
    assert sha256(raw) == digest


def test_skopeo_copies_an_image_pushed_by_the_helper_to_an_oci_layout(
    tinyreg: RunningRegistry, skopeo: Tool, sandbox: Sandbox
) -> None:
    digest = tinyreg.push_image("team/app", "1.0", layers=2)
    target = sandbox.work / "app"

    skopeo("copy", "--src-tls-verify=false", f"docker://{tinyreg.host}/team/app:1.0", f"oci:{target}:1.0")

    image = Layout(target).image("1.0")
    assert (image.digest, image.media_type) == (digest, OCI_MANIFEST)
    config = json.loads(image.config)
    assert config["rootfs"]["diff_ids"] == [sha256(gzip.decompress(layer)) for layer in image.layers]
    assert [sha256(layer) for layer in image.layers] == image.layer_digests


def test_skopeo_lists_the_tags_pushed_by_the_helper(tinyreg: RunningRegistry, skopeo: Tool) -> None:
    for tag in ("1.0", "1.1", "latest"):
        tinyreg.push_image("team/app", tag)

    listed = skopeo("list-tags", "--tls-verify=false", f"docker://{tinyreg.host}/team/app").json()

    assert listed["Repository"] == f"{tinyreg.host}/team/app"
    assert sorted(listed["Tags"]) == ["1.0", "1.1", "latest"]

"""Multi-architecture images: OCI indexes and Docker manifest lists pushed by buildah and skopeo."""

from __future__ import annotations

import json

import pytest

from .tools import (
    DOCKER_LIST,
    DOCKER_MANIFEST,
    OCI_INDEX,
    OCI_MANIFEST,
    Layout,
    RegistryView,
    Sandbox,
    Tool,
    buildah_scratch_image,
    random_files,
    sha256,
)

pytestmark = pytest.mark.clients

ARCHITECTURES = ("amd64", "arm64")


def manifest_list(buildah: Tool, name: str = "multi") -> str:
    """A local buildah manifest list with one fresh single-layer image per architecture."""
    buildah("manifest", "create", name)
    for arch in ARCHITECTURES:
        image = buildah_scratch_image(buildah, f"{name}-{arch}", [random_files(arch)], arch=arch)
        buildah("manifest", "add", name, image)
    return name


def push_list(buildah: Tool, sandbox: Sandbox, destination: str, *extra: str) -> str:
    """`buildah manifest push --all` of a fresh list; the digest buildah reports."""
    digest_file = sandbox.work / "list.digest"
    buildah(
        "manifest",
        "push",
        "--all",
        "--tls-verify=false",
        "--digestfile",
        str(digest_file),
        *extra,
        manifest_list(buildah),
        destination,
    )
    return digest_file.read_text().strip()


def assert_children_resolve_by_digest(view: RegistryView, name: str, index: dict, child_type: str) -> None:
    """Every child of `index` is served by digest, with its media type, size and architecture."""
    assert sorted(child["platform"]["architecture"] for child in index["manifests"]) == list(ARCHITECTURES)
    for child in index["manifests"]:
        assert child["mediaType"] == child_type
        response = view.present_manifest(name, child["digest"])
        assert response.headers["Docker-Content-Digest"] == child["digest"]
        assert response.headers["Content-Type"] == child_type
        assert len(response.content) == child["size"]
        document = response.json()
        config = json.loads(view.blob(name, document["config"]["digest"]))
        assert config["architecture"] == child["platform"]["architecture"]
        for layer in document["layers"]:
            view.blob(name, layer["digest"])


def test_buildah_manifest_push_all_serves_an_oci_index_whose_children_resolve_by_digest(
    buildah: Tool, sandbox: Sandbox, registry_view: RegistryView
) -> None:
    reported = push_list(buildah, sandbox, sandbox.docker("group/project/multi:v1"))

    response = registry_view.present_manifest("group/project/multi", "v1")
    assert response.headers["Content-Type"] == OCI_INDEX
    assert response.headers["Docker-Content-Digest"] == reported
    assert_children_resolve_by_digest(registry_view, "group/project/multi", response.json(), OCI_MANIFEST)


def test_a_docker_manifest_list_is_served_as_one(buildah: Tool, sandbox: Sandbox, registry_view: RegistryView) -> None:
    reported = push_list(buildah, sandbox, sandbox.docker("group/project/multi:docker"), "--format", "v2s2")

    response = registry_view.present_manifest("group/project/multi", "docker")
    assert response.headers["Content-Type"] == DOCKER_LIST
    assert response.json()["mediaType"] == DOCKER_LIST
    assert response.headers["Docker-Content-Digest"] == reported
    assert_children_resolve_by_digest(registry_view, "group/project/multi", response.json(), DOCKER_MANIFEST)


def test_skopeo_copy_all_pushes_an_index_and_its_children_byte_for_byte(
    buildah: Tool, skopeo: Tool, sandbox: Sandbox, registry_view: RegistryView
) -> None:
    layout = Layout(sandbox.work / "multi-layout")
    buildah("manifest", "push", "--all", manifest_list(buildah), f"oci:{layout.path}:v1")
    local_digest = layout.descriptor("v1")["digest"]
    local_index = layout.blob(local_digest)

    skopeo(
        "copy",
        "--all",
        "--preserve-digests",
        "--dest-tls-verify=false",
        f"oci:{layout.path}:v1",
        sandbox.docker("group/project/my/multi:v1"),
    )

    response = registry_view.present_manifest("group/project/my/multi", "v1")
    assert response.content == local_index
    assert response.headers["Docker-Content-Digest"] == local_digest == sha256(local_index)
    for child in json.loads(local_index)["manifests"]:
        local = layout.image(child["digest"])
        assert registry_view.present_manifest("group/project/my/multi", child["digest"]).content == local.manifest
        assert registry_view.blob("group/project/my/multi", local.document["config"]["digest"]) == local.config
        for digest, data in zip(local.layer_digests, local.layers, strict=True):
            assert registry_view.blob("group/project/my/multi", digest) == data


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_skopeo_resolves_the_index_to_the_child_for_the_requested_architecture(
    buildah: Tool, skopeo: Tool, sandbox: Sandbox, registry_view: RegistryView, arch: str
) -> None:
    index_digest = push_list(buildah, sandbox, sandbox.docker("group/project/multi:v1"))
    index = registry_view.present_manifest("group/project/multi", "v1").json()
    wanted = next(child["digest"] for child in index["manifests"] if child["platform"]["architecture"] == arch)
    pulled = Layout(sandbox.work / "pulled")

    inspected = skopeo("--override-arch", arch, "inspect", "--tls-verify=false", sandbox.docker("group/project/multi:v1")).json()
    skopeo(
        "--override-arch",
        arch,
        "copy",
        "--preserve-digests",
        "--src-tls-verify=false",
        sandbox.docker("group/project/multi:v1"),
        f"oci:{pulled.path}:{arch}",
    )

    assert (inspected["Digest"], inspected["Architecture"]) == (index_digest, arch)
    image = pulled.image(arch)
    assert (image.digest, image.architecture) == (wanted, arch)
    assert image.manifest == registry_view.present_manifest("group/project/multi", wanted).content


@pytest.mark.parametrize("list_format", ["oci", "v2s2"])
def test_podman_manifest_inspect_reads_the_list_from_the_registry(
    buildah: Tool, podman: Tool, sandbox: Sandbox, registry_view: RegistryView, list_format: str
) -> None:
    push_list(buildah, sandbox, sandbox.docker("group/project/multi:v1"), "--format", list_format)
    served = registry_view.present_manifest("group/project/multi", "v1").json()

    inspected = podman("manifest", "inspect", sandbox.ref("group/project/multi:v1")).json()

    assert [child["digest"] for child in inspected["manifests"]] == [child["digest"] for child in served["manifests"]]
    assert [child["platform"]["architecture"] for child in inspected["manifests"]] == list(ARCHITECTURES)

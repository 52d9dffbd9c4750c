"""buildah and podman against tinyreg: build without an engine, push, pull, inspect, search, zstd."""

from __future__ import annotations

import json

import pytest

from .tools import (
    OCI_MANIFEST,
    ZSTD_MAGIC,
    RegistryView,
    Sandbox,
    Tool,
    buildah_scratch_image,
    random_files,
)

pytestmark = pytest.mark.clients


def push(tool: Tool, sandbox: Sandbox, image: str, name: str, *extra: str) -> str:
    """`buildah push` or `podman push` of a local image to `name`; the digest the tool reports."""
    digest_file = sandbox.work / "push.digest"
    tool("push", "--tls-verify=false", "--digestfile", str(digest_file), *extra, image, sandbox.docker(name))
    return digest_file.read_text().strip()


def diff_ids(tool: Tool, image: str) -> list[str]:
    """The uncompressed layer digests of a local image, from its config."""
    return tool("inspect", "--type", "image", image).json()["OCIv1"]["rootfs"]["diff_ids"]


def served_config(view: RegistryView, name: str, reference: str) -> tuple[dict, dict]:
    """The manifest served for `name:reference` and the config blob it names."""
    manifest = view.present_manifest(name, reference).json()
    return manifest, json.loads(view.blob(name, manifest["config"]["digest"]))


def forget_every_image(buildah: Tool) -> None:
    """Empty the sandbox's storage so that the next pull really fetches every blob."""
    buildah("rmi", "--all", "--force")
    assert buildah("images", "--quiet").text.strip() == ""


@pytest.mark.parametrize(("layer_count", "arch"), [(1, "amd64"), (3, "amd64"), (1, "arm64")])
def test_buildah_builds_from_scratch_and_pushes(
    buildah: Tool, sandbox: Sandbox, registry_view: RegistryView, layer_count: int, arch: str
) -> None:
    image = buildah_scratch_image(buildah, "scratch", [random_files(f"l{n}") for n in range(layer_count)], arch=arch)
    local_diff_ids = diff_ids(buildah, image)
    assert len(local_diff_ids) == layer_count

    reported = push(buildah, sandbox, image, "group/project/scratch:v1")

    manifest, config = served_config(registry_view, "group/project/scratch", "v1")
    assert registry_view.present_manifest("group/project/scratch", "v1").headers["Docker-Content-Digest"] == reported
    assert manifest["mediaType"] == OCI_MANIFEST
    assert len(manifest["layers"]) == layer_count
    assert (config["architecture"], config["os"]) == (arch, "linux")
    assert config["rootfs"]["diff_ids"] == local_diff_ids
    for layer in manifest["layers"]:
        registry_view.blob("group/project/scratch", layer["digest"])


def test_buildah_commit_writes_straight_to_the_registry(buildah: Tool, sandbox: Sandbox, registry_view: RegistryView) -> None:
    container = buildah("from", "scratch").text.strip()
    source = sandbox.work / "files"
    source.mkdir()
    (source / "hello.txt").write_bytes(b"hello from buildah commit\n")
    buildah("copy", container, str(source), "/")

    buildah("commit", "--tls-verify=false", "--rm", container, sandbox.docker("group/project/committed:v1"))

    manifest, config = served_config(registry_view, "group/project/committed", "v1")
    assert len(manifest["layers"]) == 1 == len(config["rootfs"]["diff_ids"])


def test_buildah_pull_gives_back_the_pushed_image(buildah: Tool, sandbox: Sandbox) -> None:
    image = buildah_scratch_image(buildah, "app", [random_files("a"), random_files("b")])
    expected_diff_ids = diff_ids(buildah, image)
    reported = push(buildah, sandbox, image, "group/project/app:v1")
    forget_every_image(buildah)

    buildah("pull", "--tls-verify=false", sandbox.ref("group/project/app:v1"))

    pulled = buildah("inspect", "--type", "image", sandbox.ref("group/project/app:v1")).json()
    assert pulled["FromImageDigest"] == reported
    assert pulled["OCIv1"]["rootfs"]["diff_ids"] == expected_diff_ids


def test_buildah_builds_on_a_base_image_pulled_from_the_registry(
    buildah: Tool, sandbox: Sandbox, registry_view: RegistryView
) -> None:
    base = buildah_scratch_image(buildah, "base", [random_files("base1"), random_files("base2")])
    push(buildah, sandbox, base, "group/base:v1")
    _, base_config = served_config(registry_view, "group/base", "v1")
    forget_every_image(buildah)

    container = buildah("from", "--tls-verify=false", sandbox.ref("group/base:v1")).text.strip()
    added = sandbox.work / "added"
    added.mkdir()
    (added / "app.txt").write_bytes(b"the application layer\n")
    buildah("copy", container, str(added), "/app")
    buildah("commit", "--rm", container, "localhost/app")
    push(buildah, sandbox, "localhost/app", "group/project/app:v1")

    manifest, config = served_config(registry_view, "group/project/app", "v1")
    assert len(manifest["layers"]) == 3
    assert config["rootfs"]["diff_ids"][:2] == base_config["rootfs"]["diff_ids"]
    for layer in manifest["layers"]:
        registry_view.blob("group/project/app", layer["digest"])


def test_podman_push_pull_and_image_inspect_agree_with_the_registry(
    buildah: Tool, podman: Tool, sandbox: Sandbox, registry_view: RegistryView
) -> None:
    image = buildah_scratch_image(buildah, "app", [random_files("a"), random_files("b")], arch="arm64")
    expected_diff_ids = diff_ids(buildah, image)
    reported = push(podman, sandbox, image, "group/project/podman:v1")
    forget_every_image(buildah)

    podman("pull", "--tls-verify=false", "--arch", "arm64", sandbox.ref("group/project/podman:v1"))

    inspected = podman("image", "inspect", sandbox.ref("group/project/podman:v1")).json()[0]
    assert registry_view.present_manifest("group/project/podman", "v1").headers["Docker-Content-Digest"] == reported
    assert inspected["Digest"] == reported
    assert f"{sandbox.ref('group/project/podman')}@{reported}" in inspected["RepoDigests"]
    assert inspected["Architecture"] == "arm64"
    assert inspected["RootFS"]["Layers"] == expected_diff_ids


def test_podman_search_lists_repositories_from_the_catalog(buildah: Tool, podman: Tool, sandbox: Sandbox) -> None:
    image = buildah_scratch_image(buildah, "app", [random_files("a")])
    names = ["group/project", "group/project/image", "group/project/my/image", "other/tool"]
    for name in names:
        push(podman, sandbox, image, f"{name}:v1")

    everything = podman("search", "--tls-verify=false", "--format", "{{.Name}}", f"{sandbox.registry.host}/").text.split()
    some = podman("search", "--tls-verify=false", "--format", "{{.Name}}", sandbox.ref("image")).text.split()

    assert sorted(everything) == [sandbox.ref(name) for name in sorted(names)]
    assert sorted(some) == [sandbox.ref("group/project/image"), sandbox.ref("group/project/my/image")]


def test_podman_search_list_tags_shows_the_tags_of_a_repository(buildah: Tool, podman: Tool, sandbox: Sandbox) -> None:
    image = buildah_scratch_image(buildah, "app", [random_files("a")])
    for tag in ("v1", "v2", "latest"):
        push(podman, sandbox, image, f"group/project/app:{tag}")

    listed = podman("search", "--tls-verify=false", "--list-tags", "--format", "json", sandbox.ref("group/project/app")).json()

    assert [entry["Name"] for entry in listed] == [sandbox.ref("group/project/app")]
    assert sorted(listed[0]["Tags"]) == ["latest", "v1", "v2"]


def test_podman_pushes_and_pulls_a_zstd_layer(buildah: Tool, podman: Tool, sandbox: Sandbox, registry_view: RegistryView) -> None:
    image = buildah_scratch_image(buildah, "app", [random_files("zstd", size=64 * 1024)])
    expected_diff_ids = diff_ids(buildah, image)

    reported = push(podman, sandbox, image, "group/project/zstd:v1", "--compression-format", "zstd")

    manifest, config = served_config(registry_view, "group/project/zstd", "v1")
    assert [layer["mediaType"] for layer in manifest["layers"]] == ["application/vnd.oci.image.layer.v1.tar+zstd"]
    assert registry_view.blob("group/project/zstd", manifest["layers"][0]["digest"]).startswith(ZSTD_MAGIC)
    assert config["rootfs"]["diff_ids"] == expected_diff_ids
    forget_every_image(buildah)
    podman("pull", "--tls-verify=false", sandbox.ref("group/project/zstd:v1"))
    inspected = podman("image", "inspect", sandbox.ref("group/project/zstd:v1")).json()[0]
    assert (inspected["Digest"], inspected["RootFS"]["Layers"]) == (reported, expected_diff_ids)

"""skopeo against tinyreg: push images built by umoci, inspect them, list tags, copy them back.

Images are built without an engine (`umoci init/new/config/insert`, plus `unpack`/`repack`
for a third layer) into an OCI layout, so every byte pushed is known and can be compared.
"""

from __future__ import annotations

import json

import pytest

from .tools import DOCKER_MANIFEST, OCI_MANIFEST, ImageFactory, Layout, LocalImage, RegistryView, Sandbox, Tool, push_args

pytestmark = pytest.mark.clients

SCHEMA1_SIGNED = "application/vnd.docker.distribution.manifest.v1+prettyjws"


def push(skopeo: Tool, sandbox: Sandbox, image_tag: str, name: str, *extra: str) -> str:
    """`skopeo copy --preserve-digests` of the layout's `image_tag` to `name`; the digest skopeo reports."""
    digest_file = sandbox.work / "pushed.digest"
    skopeo(*push_args(sandbox, image_tag, name, "--digestfile", str(digest_file), *extra))
    return digest_file.read_text().strip()


def assert_served_exactly(view: RegistryView, name: str, reference: str, image: LocalImage) -> None:
    """The registry serves `image`'s manifest, config and layers byte for byte under `name`."""
    response = view.present_manifest(name, reference)
    assert response.content == image.manifest
    assert response.headers["Docker-Content-Digest"] == image.digest
    assert response.headers["Content-Type"] == OCI_MANIFEST
    document = image.document
    assert view.blob(name, document["config"]["digest"]) == image.config
    for descriptor, data in zip(document["layers"], image.layers, strict=True):
        assert view.blob(name, descriptor["digest"]) == data


@pytest.mark.parametrize("layer_count", [1, 3])
def test_an_umoci_image_pushed_with_preserved_digests_is_served_byte_for_byte(
    skopeo: Tool, sandbox: Sandbox, umoci_layout: ImageFactory, registry_view: RegistryView, layer_count: int
) -> None:
    image = umoci_layout("v1", layer_count=layer_count)
    assert len(image.layers) == layer_count

    reported = push(skopeo, sandbox, "v1", "group/project:v1")

    assert reported == image.digest
    assert_served_exactly(registry_view, "group/project", "v1", image)
    assert_served_exactly(registry_view, "group/project", image.digest, image)


def test_an_image_for_another_architecture_keeps_it(
    skopeo: Tool, sandbox: Sandbox, umoci_layout: ImageFactory, registry_view: RegistryView
) -> None:
    image = umoci_layout("arm", arch="arm64")
    assert image.architecture == "arm64"

    push(skopeo, sandbox, "arm", "group/project:arm")

    inspected = skopeo("inspect", "--tls-verify=false", sandbox.docker("group/project:arm")).json()
    assert (inspected["Architecture"], inspected["Os"], inspected["Digest"]) == ("arm64", "linux", image.digest)
    assert json.loads(registry_view.blob("group/project", image.document["config"]["digest"]))["architecture"] == "arm64"


@pytest.mark.parametrize("name", ["group/project", "group/project/image", "group/project/my/image"])
def test_copy_preserves_the_digest_under_names_of_two_three_and_four_components(
    skopeo: Tool, sandbox: Sandbox, umoci_layout: ImageFactory, registry_view: RegistryView, name: str
) -> None:
    image = umoci_layout("v1", layer_count=3)

    reported = push(skopeo, sandbox, "v1", f"{name}:v1")

    assert reported == image.digest
    assert registry_view.present_manifest(name, "v1").content == image.manifest
    assert registry_view.tags(name) == ["v1"]


def test_a_second_tag_names_the_same_manifest(
    skopeo: Tool, sandbox: Sandbox, umoci_layout: ImageFactory, registry_view: RegistryView
) -> None:
    image = umoci_layout("v1")
    push(skopeo, sandbox, "v1", "group/project/image:v1")

    skopeo(
        "copy",
        "--preserve-digests",
        "--src-tls-verify=false",
        "--dest-tls-verify=false",
        sandbox.docker("group/project/image:v1"),
        sandbox.docker("group/project/image:stable"),
    )

    assert registry_view.tags("group/project/image") == ["stable", "v1"]
    for tag in ("v1", "stable"):
        assert registry_view.present_manifest("group/project/image", tag).headers["Docker-Content-Digest"] == image.digest


def test_inspect_by_tag_and_by_digest_describes_the_pushed_image(
    skopeo: Tool, sandbox: Sandbox, umoci_layout: ImageFactory
) -> None:
    image = umoci_layout("v1", layer_count=3)
    push(skopeo, sandbox, "v1", "group/project/image:v1")

    by_tag = skopeo("inspect", "--tls-verify=false", sandbox.docker("group/project/image:v1")).json()
    by_digest = skopeo("inspect", "--tls-verify=false", sandbox.docker(f"group/project/image@{image.digest}")).json()

    for inspected in (by_tag, by_digest):
        assert inspected["Digest"] == image.digest
        assert inspected["Layers"] == image.layer_digests
        assert (inspected["Architecture"], inspected["Os"]) == ("amd64", "linux")
    assert by_tag["RepoTags"] == ["v1"]


@pytest.mark.parametrize("reference", ["tag", "digest"])
def test_inspect_raw_returns_the_pushed_manifest_and_config_bytes(
    skopeo: Tool, sandbox: Sandbox, umoci_layout: ImageFactory, reference: str
) -> None:
    image = umoci_layout("v1", layer_count=3)
    push(skopeo, sandbox, "v1", "group/project:v1")
    target = sandbox.docker("group/project:v1" if reference == "tag" else f"group/project@{image.digest}")

    assert skopeo("inspect", "--tls-verify=false", "--raw", target).stdout == image.manifest
    assert skopeo("inspect", "--tls-verify=false", "--config", "--raw", target).stdout == image.config


def test_list_tags_shows_every_pushed_tag(skopeo: Tool, sandbox: Sandbox, umoci_layout: ImageFactory) -> None:
    for tag in ("v1", "v2", "latest"):
        umoci_layout(tag)
        push(skopeo, sandbox, tag, f"group/project/my/image:{tag}")

    listed = skopeo("list-tags", "--tls-verify=false", sandbox.docker("group/project/my/image")).json()

    assert listed["Repository"] == sandbox.ref("group/project/my/image")
    assert sorted(listed["Tags"]) == ["latest", "v1", "v2"]


def test_list_tags_of_an_unknown_repository_fails(skopeo: Tool, sandbox: Sandbox) -> None:
    failed = skopeo.fails("list-tags", "--tls-verify=false", sandbox.docker("group/never-pushed"))

    assert "404" in failed.stderr or "name unknown" in failed.stderr.lower(), failed.describe()


def test_copy_back_into_a_fresh_layout_is_byte_identical(skopeo: Tool, sandbox: Sandbox, umoci_layout: ImageFactory) -> None:
    image = umoci_layout("v1", layer_count=3)
    push(skopeo, sandbox, "v1", "group/project/image:v1")
    fresh = sandbox.work / "fresh"

    skopeo("copy", "--preserve-digests", "--src-tls-verify=false", sandbox.docker("group/project/image:v1"), f"oci:{fresh}:copy")

    copied = Layout(fresh).image("copy")
    assert copied.digest == image.digest
    assert copied.manifest == image.manifest
    assert copied.config == image.config
    assert copied.layers == image.layers


def test_format_v2s2_is_stored_and_served_as_a_docker_manifest(
    skopeo: Tool, sandbox: Sandbox, umoci_layout: ImageFactory, registry_view: RegistryView
) -> None:
    image = umoci_layout("v1", layer_count=3)

    skopeo(
        "copy", "--format", "v2s2", "--dest-tls-verify=false", f"oci:{sandbox.layout}:v1", sandbox.docker("group/project:docker")
    )

    response = registry_view.present_manifest("group/project", "docker")
    document = response.json()
    assert response.headers["Content-Type"] == DOCKER_MANIFEST
    assert document["mediaType"] == DOCKER_MANIFEST
    assert document["config"]["mediaType"] == "application/vnd.docker.container.image.v1+json"
    assert {layer["mediaType"] for layer in document["layers"]} == {"application/vnd.docker.image.rootfs.diff.tar.gzip"}
    assert [layer["digest"] for layer in document["layers"]] == image.layer_digests
    raw = skopeo("inspect", "--tls-verify=false", "--raw", sandbox.docker("group/project:docker")).stdout
    assert raw == response.content


def test_format_oci_turns_a_docker_manifest_back_into_an_oci_one(
    skopeo: Tool, sandbox: Sandbox, umoci_layout: ImageFactory, registry_view: RegistryView
) -> None:
    image = umoci_layout("v1", layer_count=3)
    layout_ref = f"oci:{sandbox.layout}:v1"
    skopeo("copy", "--format", "v2s2", "--dest-tls-verify=false", layout_ref, sandbox.docker("group/project:docker"))

    skopeo(
        "copy",
        "--format",
        "oci",
        "--src-tls-verify=false",
        "--dest-tls-verify=false",
        sandbox.docker("group/project:docker"),
        sandbox.docker("group/project/oci:v1"),
    )

    response = registry_view.present_manifest("group/project/oci", "v1")
    document = response.json()
    assert response.headers["Content-Type"] == OCI_MANIFEST
    assert document["config"]["mediaType"] == "application/vnd.oci.image.config.v1+json"
    assert [layer["digest"] for layer in document["layers"]] == image.layer_digests
    config = json.loads(registry_view.blob("group/project/oci", document["config"]["digest"]))
    assert config["rootfs"]["diff_ids"] == json.loads(image.config)["rootfs"]["diff_ids"]


def test_a_schema1_manifest_is_refused_or_served_under_the_digest_clients_compute(
    skopeo: Tool, sandbox: Sandbox, umoci_layout: ImageFactory, registry_view: RegistryView
) -> None:
    """Docker clients digest a signed schema1 manifest over its JWS payload, not over the signed bytes."""
    umoci_layout("v1")

    pushed = skopeo.run(
        "copy", "--format", "v2s1", "--dest-tls-verify=false", f"oci:{sandbox.layout}:v1", sandbox.docker("group/project:schema1")
    )

    if pushed.returncode != 0:
        assert "manifest" in pushed.stderr, pushed.describe()
        assert registry_view.manifest("group/project", "schema1").status_code == 404
        return
    served = registry_view.client.get("/v2/group/project/manifests/schema1", headers={"Accept": SCHEMA1_SIGNED})
    assert (served.status_code, served.headers["Content-Type"]) == (200, SCHEMA1_SIGNED)
    manifest_file = sandbox.work / "schema1.json"
    manifest_file.write_bytes(served.content)
    client_digest = skopeo("manifest-digest", str(manifest_file)).text.strip()
    assert served.headers["Docker-Content-Digest"] == client_digest
    skopeo("inspect", "--tls-verify=false", sandbox.docker(f"group/project@{client_digest}"))


def test_skopeo_sync_copies_every_tag_of_a_repository_to_a_directory(
    skopeo: Tool, sandbox: Sandbox, umoci_layout: ImageFactory
) -> None:
    images = {tag: umoci_layout(tag, layer_count=2) for tag in ("v1", "v2", "v3")}
    for tag in images:
        push(skopeo, sandbox, tag, f"group/project/app:{tag}")
    target = sandbox.work / "synced"

    skopeo("sync", "--src", "docker", "--dest", "dir", "--src-tls-verify=false", sandbox.ref("group/project/app"), str(target))

    assert sorted(path.name for path in target.iterdir()) == ["app:v1", "app:v2", "app:v3"]
    for tag, image in images.items():
        copied = target / f"app:{tag}"
        assert (copied / "manifest.json").read_bytes() == image.manifest
        assert (copied / image.document["config"]["digest"].split(":")[1]).read_bytes() == image.config
        for digest, data in zip(image.layer_digests, image.layers, strict=True):
            assert (copied / digest.split(":")[1]).read_bytes() == data

"""skopeo against tinyreg: cross-repository mounts, deletes, and a 100 MiB layer."""

from __future__ import annotations

import os
from urllib.parse import quote

import pytest

from .tools import ImageFactory, Layout, RegistryView, Sandbox, Tool, push_args, umoci_image

pytestmark = pytest.mark.clients

LARGE_LAYER_BYTES = 100 * 1024 * 1024


def push(skopeo: Tool, sandbox: Sandbox, image_tag: str, name: str) -> None:
    """`skopeo copy --preserve-digests` of the layout's `image_tag` to `name` in the registry."""
    skopeo(*push_args(sandbox, image_tag, name))


def test_copy_between_repositories_mounts_every_layer_instead_of_uploading_it(
    skopeo: Tool, sandbox: Sandbox, umoci_layout: ImageFactory, registry_view: RegistryView
) -> None:
    image = umoci_layout("v1", layer_count=3)
    push(skopeo, sandbox, "v1", "group/source/app:v1")

    copied = skopeo(
        "--debug",
        "copy",
        "--src-tls-verify=false",
        "--dest-tls-verify=false",
        sandbox.docker("group/source/app:v1"),
        sandbox.docker("group/target/app:v1"),
    )

    log = copied.stderr
    base = f"{sandbox.registry.url}/v2/group/target/app/blobs/uploads/"
    posts = [f"POST {base}?from=group%2Fsource%2Fapp&mount={quote(digest, safe='')}" for digest in image.layer_digests]
    missing = [post for post in posts if post not in log]
    assert not missing, f"no mount attempted for {missing}:\n{log[-12000:]}"
    # skopeo logs "... mount OK" exactly when the mount POST is answered 201 Created.
    assert log.count("... mount OK") == len(posts), log[-12000:]
    assert "started an upload instead of mounting" not in log, log[-12000:]
    assert log.count(f"PATCH {base}") == 1, f"only the config should be uploaded:\n{log[-12000:]}"
    assert registry_view.present_manifest("group/target/app", "v1").content == image.manifest
    for digest, data in zip(image.layer_digests, image.layers, strict=True):
        assert registry_view.blob("group/target/app", digest) == data


def push_two_images(skopeo: Tool, sandbox: Sandbox, umoci_layout: ImageFactory) -> tuple[str, str]:
    """`app:v1` and `app:also` name one image, `app:v2` another, and `other:v1` holds the first too."""
    first, second = umoci_layout("v1"), umoci_layout("v2")
    push(skopeo, sandbox, "v1", "group/project/app:v1")
    push(skopeo, sandbox, "v1", "group/project/app:also")
    push(skopeo, sandbox, "v2", "group/project/app:v2")
    push(skopeo, sandbox, "v1", "group/project/other:v1")
    return first.digest, second.digest


def assert_other_repository_keeps(view: RegistryView, digest: str) -> None:
    for reference in ("v1", digest):
        assert view.present_manifest("group/project/other", reference).headers["Docker-Content-Digest"] == digest


def test_delete_by_tag_removes_the_manifest_it_names_and_nothing_else(
    skopeo: Tool, sandbox: Sandbox, umoci_layout: ImageFactory, registry_view: RegistryView
) -> None:
    first, second = push_two_images(skopeo, sandbox, umoci_layout)

    deleted = skopeo("--debug", "delete", "--tls-verify=false", sandbox.docker("group/project/app:v1"))

    assert f"DELETE {sandbox.registry.url}/v2/group/project/app/manifests/{first}" in deleted.stderr
    assert registry_view.manifest("group/project/app", "v1").status_code == 404
    assert registry_view.manifest("group/project/app", first).status_code == 404
    assert registry_view.tags("group/project/app") == ["v2"]
    assert registry_view.present_manifest("group/project/app", "v2").headers["Docker-Content-Digest"] == second
    assert_other_repository_keeps(registry_view, first)
    gone = skopeo.fails("inspect", "--tls-verify=false", sandbox.docker("group/project/app:v1"))
    assert "manifest unknown" in gone.stderr, gone.describe()


def test_delete_by_digest_removes_the_manifest_and_its_tags_in_that_repository_only(
    skopeo: Tool, sandbox: Sandbox, umoci_layout: ImageFactory, registry_view: RegistryView
) -> None:
    first, second = push_two_images(skopeo, sandbox, umoci_layout)

    skopeo("delete", "--tls-verify=false", sandbox.docker(f"group/project/app@{first}"))

    assert registry_view.manifest("group/project/app", first).status_code == 404
    assert registry_view.tags("group/project/app") == ["v2"]
    assert registry_view.present_manifest("group/project/app", "v2").headers["Docker-Content-Digest"] == second
    assert_other_repository_keeps(registry_view, first)
    gone = skopeo.fails("inspect", "--tls-verify=false", sandbox.docker(f"group/project/app@{first}"))
    assert "manifest unknown" in gone.stderr, gone.describe()


def test_deleting_an_unknown_manifest_fails_and_keeps_the_repository(
    skopeo: Tool, sandbox: Sandbox, umoci_layout: ImageFactory, registry_view: RegistryView
) -> None:
    image = umoci_layout("v1")
    push(skopeo, sandbox, "v1", "group/project/app:v1")
    missing = "sha256:" + "0" * 64

    failed = skopeo.fails("--debug", "delete", "--tls-verify=false", sandbox.docker(f"group/project/app@{missing}"))

    # skopeo prints this exactly when its GET of the manifest is answered 404.
    assert "Image may not exist" in failed.stderr, failed.describe()
    assert "DELETE " not in failed.stderr, failed.describe()
    assert registry_view.present_manifest("group/project/app", "v1").content == image.manifest


@pytest.mark.slow
def test_a_100_mib_random_layer_is_pushed_and_pulled_back_byte_for_byte(
    skopeo: Tool, umoci: Tool, sandbox: Sandbox, registry_view: RegistryView
) -> None:
    payload = os.urandom(LARGE_LAYER_BYTES)
    image = umoci_image(umoci, sandbox.layout, "big", [{"payload.bin": payload}])
    del payload
    layer_digest = image.layer_digests[0]
    assert len(image.layers[0]) > LARGE_LAYER_BYTES  # random bytes do not compress

    skopeo(*push_args(sandbox, "big", "group/project/big:v1"), timeout=900)
    head = registry_view.client.head(f"/v2/group/project/big/blobs/{layer_digest}")
    assert (head.status_code, int(head.headers["Content-Length"])) == (200, len(image.layers[0]))
    pulled_layout = sandbox.work / "pulled"
    skopeo(
        "copy",
        "--preserve-digests",
        "--src-tls-verify=false",
        sandbox.docker("group/project/big:v1"),
        f"oci:{pulled_layout}:big",
        timeout=900,
    )

    pulled = Layout(pulled_layout).image("big")
    assert pulled.manifest == image.manifest
    assert pulled.layers[0] == image.layers[0]

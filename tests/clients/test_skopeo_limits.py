"""skopeo and podman against a project with a size limit: a push that fits succeeds, one that does not fails
with the registry's message, and nothing of it is counted."""

from __future__ import annotations

import pytest
from tinyreg.testing import RunningRegistry

from .tools import ImageFactory, LocalImage, Sandbox, Tool, buildah_scratch_image, push_args, random_files

pytestmark = pytest.mark.clients


def image_bytes(image: LocalImage) -> int:
    return len(image.manifest) + len(image.config) + sum(len(layer) for layer in image.layers)


def used(tinyreg: RunningRegistry, project: str) -> int:
    with tinyreg._registry.meta.read() as tx:
        return tx.usage_total("project", project)


def test_a_push_over_the_size_limit_fails_with_the_reason_and_one_that_fits_succeeds(
    skopeo: Tool, sandbox: Sandbox, umoci_layout: ImageFactory, tinyreg: RunningRegistry
) -> None:
    small, big = umoci_layout("small"), umoci_layout("big", layer_count=3)
    tinyreg.create_project("group/project")
    tinyreg.set_size_limit("group/project", image_bytes(small) + 100)
    skopeo(*push_args(sandbox, "small", "group/project/app:small"))
    assert used(tinyreg, "group/project") == image_bytes(small)

    failed = skopeo.fails(*push_args(sandbox, "big", "group/project/app:big"))
    assert "project group/project is over its size limit" in failed.stderr, failed.describe()
    assert "delete images or ask an admin to raise the limit" in failed.stderr, failed.describe()
    assert used(tinyreg, "group/project") == image_bytes(small)

    tinyreg.set_size_limit("group/project", None)
    skopeo(*push_args(sandbox, "big", "group/project/app:big"))
    assert used(tinyreg, "group/project") > image_bytes(small) + image_bytes(big) / 2


def test_podman_push_over_the_size_limit_fails_with_the_reason_and_counts_nothing(
    buildah: Tool, podman: Tool, sandbox: Sandbox, tinyreg: RunningRegistry
) -> None:
    image = buildah_scratch_image(buildah, "big", [random_files(f"layer{n}", size=64 * 1024) for n in range(2)])
    tinyreg.create_project("group/project")
    tinyreg.set_size_limit("group/project", 10_000)  # far below two 64 KiB layers

    failed = podman.fails("push", "--tls-verify=false", image, sandbox.docker("group/project/podman:big"))
    assert "project group/project is over its size limit" in failed.stderr, failed.describe()
    assert used(tinyreg, "group/project") == 0

    tinyreg.set_size_limit("group/project", None)
    podman("push", "--tls-verify=false", image, sandbox.docker("group/project/podman:big"))
    assert used(tinyreg, "group/project") > 2 * 1024  # compressed random layers still count kilobytes

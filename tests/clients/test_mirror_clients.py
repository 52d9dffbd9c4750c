"""Real clients pulling through the cache: skopeo by the path prefix and the Dependency Proxy
path, podman through a `[[registry.mirror]]` of registries.conf; every byte compared with the
image skopeo pushed to the upstream (Distribution's `docker-registry`)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from tinyreg.registry.mirrors import Mirror
from tinyreg.testing import RunningRegistry

from tests.mirror_helpers import Distribution

from .tools import ImageFactory, Layout, LocalImage, Sandbox, Tool, push_args

pytestmark = pytest.mark.clients


@pytest.fixture
def tinyreg(upstream: Distribution, tinyreg_factory: Callable[..., RunningRegistry]) -> RunningRegistry:
    """The registry under test (the sandbox's), caching the upstream as mirror `hub`."""
    return tinyreg_factory(mirrors=(Mirror("hub", upstream.url),))


def _push_upstream(skopeo: Tool, sandbox: Sandbox, upstream: Distribution, image_tag: str, repo: str) -> None:
    args = push_args(sandbox, image_tag, "unused")
    args[-1] = f"docker://{upstream.host}/{repo}"
    skopeo(*args)


def _pulled_equals(skopeo: Tool, sandbox: Sandbox, source: str, image: LocalImage, name: str) -> None:
    """`skopeo copy` of `source` into a fresh layout holds `image` byte for byte."""
    layout = sandbox.work / f"pulled-{name}"
    skopeo("copy", "--src-tls-verify=false", source, f"oci:{layout}:{name}")
    pulled = Layout(layout).image(name)
    assert (pulled.digest, pulled.manifest, pulled.config, pulled.layers) == (
        image.digest,
        image.manifest,
        image.config,
        image.layers,
    )


def test_skopeo_pulls_through_the_prefix_and_the_dependency_proxy_path(
    skopeo: Tool, sandbox: Sandbox, umoci_layout: ImageFactory, upstream: Distribution
) -> None:
    image = umoci_layout("alpine", layer_count=2)
    _push_upstream(skopeo, sandbox, upstream, "alpine", "library/alpine:3.19")
    _pulled_equals(skopeo, sandbox, sandbox.docker("hub/library/alpine:3.19"), image, "prefix")
    pulled_before = len(upstream.requests("GET", "/blobs/"))
    _pulled_equals(skopeo, sandbox, sandbox.docker("acme/dependency_proxy/containers/alpine:3.19"), image, "proxy")
    assert len(upstream.requests("GET", "/blobs/")) == pulled_before, "the same cache: no blob fetched again"
    pushed = skopeo.run(*push_args(sandbox, "alpine", "hub/library/alpine:mine"))
    assert pushed.returncode != 0 and "read-only cache" in pushed.stderr


def test_podman_pulls_through_a_registries_conf_mirror(
    skopeo: Tool, podman: Tool, sandbox: Sandbox, umoci_layout: ImageFactory, upstream: Distribution, tinyreg: RunningRegistry
) -> None:
    image = umoci_layout("busybox", layer_count=2)
    _push_upstream(skopeo, sandbox, upstream, "busybox", "library/busybox:1.36")
    (sandbox.etc / "registries.conf").write_text(
        'unqualified-search-registries = []\nshort-name-mode = "permissive"\n\n'
        f'[[registry]]\nlocation = "{upstream.host}"\ninsecure = true\n'
        f'[[registry.mirror]]\nlocation = "{tinyreg.host}/hub"\ninsecure = true\n'
    )
    before = upstream.logged()
    podman("pull", f"{upstream.host}/library/busybox:1.36")  # podman checks every blob against its digest
    inspected = podman("image", "inspect", f"{upstream.host}/library/busybox:1.36").json()[0]
    assert inspected["Digest"] == image.digest
    agents = upstream.user_agents(since=before)
    assert agents and all(agent.startswith("python-httpx/") for agent in agents), (
        f"only the cache asked the upstream, podman went through the mirror: {agents}"
    )

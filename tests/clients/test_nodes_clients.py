"""The real clients against two nodes on PostgreSQL and S3 (Ceph RADOS Gateway) behind haproxy.

The tests are those of the single-registry modules, imported here so that they run again with
this module's `tinyreg`: a load balancer sending each request to either node, blob GETs answered
with redirects to the gateway, nothing shared between the nodes but the database, the bucket
and the signing keys.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tinyreg.registry.core import Registry
from tinyreg.storage.s3.location import S3Options
from tinyreg.testing import RunningRegistry

from tests.servers.nodes import cluster, postgresql_and_s3

from .test_multiarch import test_skopeo_copy_all_pushes_an_index_and_its_children_byte_for_byte  # noqa: F401
from .test_oras import (
    test_artifacts_with_a_subject_are_found_through_the_referrers_api,  # noqa: F401
    test_push_and_pull_files_with_custom_media_types_and_config,  # noqa: F401
)
from .test_podman_buildah import (
    test_buildah_builds_from_scratch_and_pushes,  # noqa: F401
    test_podman_push_pull_and_image_inspect_agree_with_the_registry,  # noqa: F401
)
from .test_skopeo import (
    test_an_umoci_image_pushed_with_preserved_digests_is_served_byte_for_byte,  # noqa: F401
    test_copy_back_into_a_fresh_layout_is_byte_identical,  # noqa: F401
    test_list_tags_shows_every_pushed_tag,  # noqa: F401
)

pytestmark = pytest.mark.clients


@pytest.fixture
def tinyreg(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RunningRegistry]:
    """Two nodes and haproxy, seen as one registry (replaces the plugin's fixture for this module)."""
    shared = postgresql_and_s3(request, tmp_path / "keys")
    metadata, blobs = shared.args[1], shared.args[3]
    gateway = request.getfixturevalue("ceph_rgw")
    options = S3Options(
        endpoint=gateway.endpoint, region=gateway.region, access_key=gateway.access_key, secret_key=gateway.secret_key
    )
    with cluster(tmp_path, shared) as nodes:
        # The test helpers write through a store of their own on the same database and bucket.
        local = Registry(tmp_path / "helper", metadata=metadata, blobs=blobs, s3=options)
        try:
            host = nodes.url.removeprefix("http://")
            yield RunningRegistry(url=nodes.url, host=host, data_dir=tmp_path / "helper", _registry=local)
        finally:
            local.close()

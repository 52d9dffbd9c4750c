"""Which endpoint of the OCI Distribution Spec a `/v2/...` path names."""

from __future__ import annotations

import pytest
from tinyreg.http.routes import Route, classify

DIGEST = "sha256:" + "ab" * 32


@pytest.mark.parametrize(
    ("path", "route"),
    [
        ("/v2/", Route("base")),
        ("/v2", Route("base")),
        ("/v2/_catalog", Route("catalog")),
        ("/v2/_catalog/", Route("catalog")),
        ("/v2/alpine/tags/list", Route("tags", "alpine")),
        ("/v2/library/alpine/manifests/latest", Route("manifests", "library/alpine", "latest")),
        (f"/v2/library/alpine/manifests/{DIGEST}", Route("manifests", "library/alpine", DIGEST)),
        (f"/v2/a/b/c/d/blobs/{DIGEST}", Route("blobs", "a/b/c/d", DIGEST)),
        ("/v2/alpine/blobs/uploads/", Route("uploads", "alpine")),
        ("/v2/alpine/blobs/uploads", Route("uploads", "alpine")),
        ("/v2/alpine/blobs/uploads/0123abcd", Route("uploads", "alpine", "0123abcd")),
        (f"/v2/alpine/referrers/{DIGEST}", Route("referrers", "alpine", DIGEST)),
    ],
)
def test_each_endpoint_of_the_spec(path: str, route: Route) -> None:
    assert classify(path) == route


@pytest.mark.parametrize(
    ("path", "route"),
    [
        ("/v2/blobs/blobs/uploads/", Route("uploads", "blobs")),
        ("/v2/blobs/manifests/latest", Route("manifests", "blobs", "latest")),
        ("/v2/manifests/manifests/latest", Route("manifests", "manifests", "latest")),
        (f"/v2/manifests/blobs/{DIGEST}", Route("blobs", "manifests", DIGEST)),
        ("/v2/a/manifests/b/manifests/latest", Route("manifests", "a/manifests/b", "latest")),
        (f"/v2/a/blobs/b/blobs/{DIGEST}", Route("blobs", "a/blobs/b", DIGEST)),
        ("/v2/a/blobs/uploads/b/blobs/uploads/", Route("uploads", "a/blobs/uploads/b")),
        ("/v2/tags/tags/list", Route("tags", "tags")),
        ("/v2/uploads/blobs/uploads/x", Route("uploads", "uploads", "x")),
        ("/v2/referrers/referrers/x", Route("referrers", "referrers", "x")),
        ("/v2/_catalog/tags/list", Route("tags", "_catalog")),
    ],
)
def test_repository_names_may_contain_endpoint_words(path: str, route: Route) -> None:
    assert classify(path) == route


@pytest.mark.parametrize(
    "path",
    [
        "",
        "/",
        "/v1/",
        "/v3/alpine/manifests/latest",
        "/v2x/alpine/manifests/latest",
        "/v2/alpine",
        "/v2/alpine/",
        "/v2/alpine/manifests",
        "/v2/alpine/manifests/",
        "/v2/alpine/blobs/",
        "/v2/alpine/tags",
        "/v2/alpine/tags/",
        "/v2/alpine/tags/all",
        "/v2/alpine/referrers/",
        "/v2/alpine/blobs/uploads/abc/",
        "/v2/alpine/unknown/latest",
        "/v2/_catalogue",
    ],
)
def test_paths_that_name_no_endpoint(path: str) -> None:
    assert classify(path) is None


@pytest.mark.parametrize(
    "path",
    [
        "/v2//blobs/uploads/",
        "/v2//blobs/uploads",
        "/v2//blobs/uploads/0123abcd",
        "/v2//manifests/latest",
        f"/v2//blobs/{DIGEST}",
        "/v2//tags/list",
        f"/v2//referrers/{DIGEST}",
    ],
)
def test_an_empty_repository_name_names_no_endpoint(path: str) -> None:
    assert classify(path) is None

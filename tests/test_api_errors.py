"""Names, digests, unknown endpoints, wrong methods, the error body, and the data directory's walls."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from tinyreg.testing import RunningRegistry, run_registry

from tests.helpers import API_VERSION, api_client, assert_error, digest_of, make_blob, push_blob, raw_request, start_upload
from tests.manifest_builders import OCI_MANIFEST, push_image

DIGEST = digest_of(b"some blob")
LONG_NAME = "/".join(["a" * 63] * 4)  # 255 characters


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v2/"),
        ("GET", "/v2/_catalog"),
        ("GET", "/v2/never/pushed/tags/list"),
        ("GET", f"/v2/repo/blobs/{DIGEST}"),
        ("HEAD", f"/v2/repo/blobs/{DIGEST}"),
        ("GET", "/v2/repo/manifests/latest"),
        ("POST", "/v2/repo/blobs/uploads/"),
        ("GET", "/v2/Bad/tags/list"),
        ("GET", "/v2/no/such/endpoint"),
        ("PATCH", "/v2/repo/manifests/latest"),
    ],
)
def test_every_response_carries_the_api_version(tinyreg: RunningRegistry, method: str, path: str) -> None:
    response = httpx.request(method, f"{tinyreg.url}{path}")
    assert response.headers["Docker-Distribution-API-Version"] == API_VERSION


@pytest.mark.parametrize(
    "name",
    [
        "a/b/c/d",
        "a/blobs",
        "blobs/uploads",
        "x/manifests/y",
        "tags/list/z",
        "a/referrers",
        "v2/v2",
        "a.b_c__d-e---f/g",
        LONG_NAME,
    ],
)
def test_any_valid_name_works_end_to_end(api: httpx.Client, name: str) -> None:
    data = make_blob(name, 300)
    digest = push_blob(api, name, data)
    assert api.get(f"/v2/{name}/blobs/{digest}").content == data
    location = start_upload(api, name)
    assert httpx.URL(location).path.startswith(f"/v2/{name}/blobs/uploads/")
    assert api.delete(location).status_code == 204
    pushed = push_image(api, name, "v1", seed=name)
    assert api.get(f"/v2/{name}/manifests/v1").content == pushed.body
    assert api.get(f"/v2/{name}/manifests/{pushed.digest}").content == pushed.body
    assert api.get(f"/v2/{name}/tags/list").json() == {"name": name, "tags": ["v1"]}
    assert api.get(f"/v2/{name}/referrers/{pushed.digest}").status_code == 200
    assert name in api.get("/v2/_catalog").json()["repositories"]


INVALID_NAMES = [
    "Upper/case",
    "a/B",
    "-leading",
    "trailing-",
    "a/-b",
    "a..b",
    "a/../b",
    "..",
    "a/./b",
    "a//b",
    ".hidden",
    "a_",
    "a___b",
    "a%20b",
    "a%00b",
    LONG_NAME + "b",
]
ENDPOINTS = [
    ("GET", "/v2/{name}/tags/list"),
    ("GET", "/v2/{name}/manifests/latest"),
    ("PUT", "/v2/{name}/manifests/latest"),
    ("GET", f"/v2/{{name}}/blobs/{DIGEST}"),
    ("POST", "/v2/{name}/blobs/uploads/"),
    ("GET", f"/v2/{{name}}/referrers/{DIGEST}"),
]


@pytest.mark.parametrize(("method", "endpoint"), ENDPOINTS, ids=[f"{m}-{e.split('}/')[1]}" for m, e in ENDPOINTS])
@pytest.mark.parametrize("name", INVALID_NAMES, ids=lambda name: name[:20])
def test_invalid_name_is_name_invalid(tinyreg: RunningRegistry, name: str, method: str, endpoint: str) -> None:
    body = b"{}" if method == "PUT" else None
    headers = {"Content-Type": OCI_MANIFEST} if method == "PUT" else None
    response = raw_request(tinyreg.url, method, endpoint.format(name=name), body=body, headers=headers)
    assert_error(response, 400, "NAME_INVALID")


INVALID_DIGESTS = [
    "sha256:abc",
    "sha256:" + "A" * 64,
    "sha256:" + "g" * 64,
    "sha256:" + "0" * 63,
    "sha256:" + "0" * 65,
    "sha512:" + "0" * 64,
    "md5:" + "0" * 32,
    "sha256:",
    ":" + "0" * 64,
    "sha256" + "0" * 64,
    "latest",
]


@pytest.mark.parametrize("digest", INVALID_DIGESTS)
@pytest.mark.parametrize("method", ["GET", "DELETE"])
def test_invalid_blob_digest_is_digest_invalid(api: httpx.Client, method: str, digest: str) -> None:
    push_blob(api, "repo", b"something")
    assert_error(api.request(method, f"/v2/repo/blobs/{digest}"), 400, "DIGEST_INVALID")


@pytest.mark.parametrize("digest", [d for d in INVALID_DIGESTS if ":" in d])
@pytest.mark.parametrize("method", ["GET", "DELETE", "PUT"])
def test_invalid_manifest_digest_is_digest_invalid(api: httpx.Client, method: str, digest: str) -> None:
    push_image(api, "repo", "v1")
    response = api.request(
        method, f"/v2/repo/manifests/{digest}", content=b"{}" if method == "PUT" else None, headers={"Content-Type": OCI_MANIFEST}
    )
    assert_error(response, 400, "DIGEST_INVALID")


@pytest.mark.parametrize("digest", INVALID_DIGESTS)
def test_invalid_upload_digest_is_digest_invalid(api: httpx.Client, digest: str) -> None:
    assert_error(api.post("/v2/repo/blobs/uploads/", params={"digest": digest}, content=b"x"), 400, "DIGEST_INVALID")
    assert_error(api.put(start_upload(api, "repo"), params={"digest": digest}, content=b"x"), 400, "DIGEST_INVALID")


@pytest.mark.parametrize(
    "path",
    [
        "/v2/repo",
        "/v2/repo/",
        "/v2/repo/tags",
        "/v2/repo/tags/lists",
        "/v2/repo/manifests",
        "/v2/repo/manifests/",
        "/v2/repo/blobs",
        "/v2/repo/blobs/",
        "/v2/repo/referrers",
        "/v2/repo/referrers/",
        "/v2/repo/unknown/x",
        "/v2/_catalogue",
        "/v2/repo/blobs/uploads/x/y",
    ],
)
def test_unknown_endpoint_is_404(api: httpx.Client, path: str) -> None:
    assert_error(api.get(path), 404)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/v2/"),
        ("DELETE", "/v2/"),
        ("PUT", "/v2/_catalog"),
        ("DELETE", "/v2/repo/tags/list"),
        ("POST", "/v2/repo/manifests/latest"),
        ("PATCH", "/v2/repo/manifests/latest"),
        ("PUT", f"/v2/repo/blobs/{DIGEST}"),
        ("POST", f"/v2/repo/blobs/{DIGEST}"),
        ("PATCH", f"/v2/repo/blobs/{DIGEST}"),
        ("GET", "/v2/repo/blobs/uploads/"),
        ("PUT", "/v2/repo/blobs/uploads/"),
        ("POST", "/v2/repo/blobs/uploads/0123456789abcdef0123456789abcdef"),
        ("PUT", f"/v2/repo/referrers/{DIGEST}"),
        ("DELETE", f"/v2/repo/referrers/{DIGEST}"),
    ],
)
def test_wrong_method_is_405_unsupported(api: httpx.Client, method: str, path: str) -> None:
    response = api.request(method, path)
    assert_error(response, 405, "UNSUPPORTED")
    allowed = {m.strip() for m in response.headers["Allow"].split(",")}
    assert allowed and method not in allowed


def test_error_body_is_the_spec_shape(api: httpx.Client) -> None:
    response = api.get(f"/v2/repo/blobs/{DIGEST}")
    body = response.json()
    assert set(body) == {"errors"}
    (error,) = body["errors"]
    assert error["code"] == "BLOB_UNKNOWN"
    assert isinstance(error["message"], str) and error["message"]
    assert set(error) <= {"code", "message", "detail"}


# -- nothing outside the data directory -------------------------------------------------------

ESCAPE = "escaped-by-test"
TRAVERSALS: list[tuple[str, str, bytes | None]] = [
    ("POST", f"/v2/..%2F..%2F{ESCAPE}/blobs/uploads/?digest={digest_of(b'x')}", b"x"),
    ("POST", f"/v2/../../{ESCAPE}/blobs/uploads/", None),
    ("PATCH", f"/v2/repo/blobs/uploads/..%2F..%2F{ESCAPE}", b"payload"),
    ("PATCH", f"/v2/repo/blobs/uploads/../../../{ESCAPE}", b"payload"),
    ("PUT", f"/v2/repo/blobs/uploads/..%2F..%2F{ESCAPE}?digest={digest_of(b'payload')}", b"payload"),
    ("DELETE", f"/v2/repo/blobs/uploads/..%2F..%2F{ESCAPE}", None),
    ("GET", f"/v2/repo/blobs/sha256:..%2F..%2F..%2F{ESCAPE}", None),
    ("DELETE", f"/v2/repo/blobs/sha256:..%2F..%2F..%2F{ESCAPE}", None),
    ("PUT", f"/v2/repo/manifests/..%2F..%2F{ESCAPE}", b"{}"),
    ("PUT", f"/v2/repo/manifests/sha256:..%2F..%2F{ESCAPE}", b"{}"),
    ("POST", f"/v2/repo/blobs/uploads/?mount=sha256:..%2F..%2F{ESCAPE}&from=..%2F..%2Fetc", None),
    ("POST", f"/v2/repo/blobs/uploads/?digest=sha256:..%2F..%2F{ESCAPE}", b"payload"),
    ("GET", "/v2/../../../../etc/passwd", None),
    ("GET", "/v2/repo/blobs/sha256:..%2F..%2F..%2F..%2F..%2Fetc%2Fpasswd", None),
]
OWN_FILES = re.compile(
    r"meta/.+|blobs/sha(256|512)/[0-9a-f]{2}/[0-9a-f]{2}/[0-9a-f]{64,128}|uploads/[0-9a-f]{32}|gc\.lock|serve\.lock"
)


def test_path_traversal_reaches_nothing_outside_the_data_directory(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    with run_registry(data_dir) as registry, api_client(registry.url) as api:
        push_image(api, "repo", "v1")
        start_upload(api, "repo")
        for method, path, body in TRAVERSALS:
            response = raw_request(
                registry.url, method, path, body=body, headers={"Content-Type": OCI_MANIFEST} if body == b"{}" else None
            )
            assert response.status_code < 500, (method, path, response.status_code, response.text)
            assert b"root:" not in response.content
        assert api.get("/v2/repo/tags/list").json()["tags"] == ["v1"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]
    assert not [parent for parent in data_dir.parents if (parent / ESCAPE).exists()]
    written = [p.relative_to(data_dir).as_posix() for p in data_dir.rglob("*") if p.is_file()]
    assert written and all(OWN_FILES.fullmatch(p) for p in written), written

"""`/v2/<name>/manifests/<reference>`: every manifest kind, byte-exact storage, validation errors, deletion."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.helpers import assert_error, digest_of, make_blob, push_blob
from tests.manifest_builders import (
    DOCKER_LIST,
    DOCKER_MANIFEST,
    DOCKER_V1_SIGNED,
    OCI_INDEX,
    OCI_MANIFEST,
    Pushed,
    artifact_manifest,
    descriptor,
    encode,
    image_manifest,
    index_manifest,
    libtrust_sign,
    push_image,
    push_manifest,
    put_manifest,
    schema1_payload,
)

REPO = "manifests/test"
MAX_MANIFEST = 4 * 1024 * 1024
Builder = Callable[[httpx.Client, str], tuple[bytes, str]]


def push_children(api: httpx.Client, repo: str, media_type: str) -> list[Pushed]:
    """Two image manifests pushed by digest, to be listed by an index."""
    children = []
    for arch in ("amd64", "arm64"):
        body = encode(image_manifest(api, repo, seed=f"child-{arch}", media_type=media_type))
        children.append(push_manifest(api, repo, digest_of(body), body, media_type))
    return children


def oci_image(api: httpx.Client, repo: str) -> tuple[bytes, str]:
    return encode(image_manifest(api, repo, seed="oci", layers=3)), OCI_MANIFEST


def oci_index(api: httpx.Client, repo: str) -> tuple[bytes, str]:
    return encode(index_manifest(push_children(api, repo, OCI_MANIFEST))), OCI_INDEX


def docker_image(api: httpx.Client, repo: str) -> tuple[bytes, str]:
    return encode(image_manifest(api, repo, seed="docker", layers=2, media_type=DOCKER_MANIFEST)), DOCKER_MANIFEST


def docker_list(api: httpx.Client, repo: str) -> tuple[bytes, str]:
    return encode(index_manifest(push_children(api, repo, DOCKER_MANIFEST), DOCKER_LIST)), DOCKER_LIST


def artifact(api: httpx.Client, repo: str) -> tuple[bytes, str]:
    return encode(artifact_manifest(api, repo, "application/vnd.example.config+json")), OCI_MANIFEST


#: Signed schema 1 bodies -> the digest clients compute for them: over the JWS payload.
SCHEMA1_DIGESTS: dict[bytes, str] = {}


def docker_schema1_signed(api: httpx.Client, repo: str) -> tuple[bytes, str]:
    """A schema 1 manifest signed the libtrust way: the signature object is spliced in before
    the closing brace, and its protected header says how to cut it out again."""
    payload = schema1_payload(repo, [push_blob(api, repo, make_blob("schema1", 321))])
    body = libtrust_sign(payload)
    SCHEMA1_DIGESTS[body] = digest_of(payload)
    return body, DOCKER_V1_SIGNED


def manifest_digest(body: bytes) -> str:
    """The digest of a manifest as clients compute it."""
    return SCHEMA1_DIGESTS.get(body) or digest_of(body)


KINDS: dict[str, Builder] = {
    "oci-image": oci_image,
    "oci-index": oci_index,
    "docker-schema2": docker_image,
    "docker-manifest-list": docker_list,
    "oci-artifact-empty-config": artifact,
    "docker-schema1-signed": docker_schema1_signed,
}


@pytest.mark.parametrize("kind", KINDS)
def test_manifest_is_stored_and_served_unchanged(api: httpx.Client, kind: str) -> None:
    body, media_type = KINDS[kind](api, REPO)
    digest = manifest_digest(body)
    response = put_manifest(api, REPO, "v1", body, media_type)
    assert response.status_code == 201, response.text
    assert response.headers["Docker-Content-Digest"] == digest
    assert httpx.URL(response.headers["Location"]).path == f"/v2/{REPO}/manifests/{digest}"
    for reference in ("v1", digest):
        served = api.get(f"/v2/{REPO}/manifests/{reference}")
        assert served.status_code == 200
        assert served.content == body
        assert served.headers["Content-Type"] == media_type
        assert served.headers["Docker-Content-Digest"] == digest
        head = api.head(f"/v2/{REPO}/manifests/{reference}")
        assert head.status_code == 200
        assert head.headers["Content-Type"] == media_type
        assert head.headers["Docker-Content-Digest"] == digest
        assert head.headers["Content-Length"] == str(len(body))


@pytest.mark.parametrize("kind", KINDS)
def test_manifest_pushed_by_digest_is_untagged(api: httpx.Client, kind: str) -> None:
    body, media_type = KINDS[kind](api, REPO)
    response = put_manifest(api, REPO, manifest_digest(body), body, media_type)
    assert response.status_code == 201, response.text
    assert response.headers["Docker-Content-Digest"] == manifest_digest(body)
    assert api.get(f"/v2/{REPO}/manifests/{manifest_digest(body)}").content == body
    assert "v1" not in api.get(f"/v2/{REPO}/tags/list").json()["tags"]


def test_content_type_decides_over_a_generic_body(api: httpx.Client) -> None:
    document = image_manifest(api, REPO)
    del document["mediaType"]
    pushed = push_manifest(api, REPO, "v1", document, OCI_MANIFEST)
    assert api.get(f"/v2/{REPO}/manifests/v1").headers["Content-Type"] == OCI_MANIFEST
    assert api.get(f"/v2/{REPO}/manifests/v1").content == pushed.body


INVALID: list[tuple[str, bytes, str]] = [
    ("not-json", b"this is not json", OCI_MANIFEST),
    ("truncated", b'{"schemaVersion": 2, "config": ', OCI_MANIFEST),
    ("array", b"[1, 2, 3]", OCI_MANIFEST),
    ("bad-utf8", b'{"schemaVersion": 2, "x": "\xff\xfe"}', OCI_MANIFEST),
    ("no-config", encode({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "layers": []}), OCI_MANIFEST),
    (
        "schema-1-oci",
        encode({"schemaVersion": 1, "mediaType": OCI_MANIFEST, "config": descriptor("a/b", b"{}"), "layers": []}),
        OCI_MANIFEST,
    ),
    (
        "bad-layer-digest",
        encode(
            {
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "config": descriptor("a/b", b"{}"),
                "layers": [{"mediaType": "a/b", "size": 1, "digest": "sha256:nothex"}],
            }
        ),
        OCI_MANIFEST,
    ),
    (
        "negative-size",
        encode({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "layers": [], "config": {**descriptor("a/b", b"{}"), "size": -1}}),
        OCI_MANIFEST,
    ),
    ("index-without-manifests", encode({"schemaVersion": 2, "mediaType": OCI_INDEX}), OCI_INDEX),
    (
        "type-mismatch",
        encode({"schemaVersion": 2, "mediaType": DOCKER_MANIFEST, "config": descriptor("a/b", b"{}"), "layers": []}),
        OCI_MANIFEST,
    ),
    ("index-as-image", encode({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []}), OCI_MANIFEST),
]


@pytest.mark.parametrize(("body", "media_type"), [case[1:] for case in INVALID], ids=[case[0] for case in INVALID])
def test_invalid_manifest_is_manifest_invalid(api: httpx.Client, body: bytes, media_type: str) -> None:
    assert_error(put_manifest(api, REPO, "v1", body, media_type), 400, "MANIFEST_INVALID")
    assert_error(api.get(f"/v2/{REPO}/manifests/v1"), 404, "MANIFEST_UNKNOWN")


def padded_manifest(api: httpx.Client, size: int) -> bytes:
    """A valid image manifest of exactly `size` bytes (an annotation pads it)."""
    document = image_manifest(api, REPO, annotations={"pad": ""})
    document["annotations"]["pad"] = "x" * (size - len(encode(document)))
    return encode(document)


def test_manifest_of_4_mib_is_accepted(api: httpx.Client) -> None:
    body = padded_manifest(api, MAX_MANIFEST)
    assert len(body) == MAX_MANIFEST
    push_manifest(api, REPO, "big", body, OCI_MANIFEST)
    assert api.get(f"/v2/{REPO}/manifests/big").content == body


def test_manifest_over_4_mib_is_413_size_invalid(api: httpx.Client) -> None:
    body = padded_manifest(api, MAX_MANIFEST + 1)
    assert_error(put_manifest(api, REPO, "big", body, OCI_MANIFEST), 413, "SIZE_INVALID")
    assert_error(api.get(f"/v2/{REPO}/manifests/big"), 404, "MANIFEST_UNKNOWN")


def test_push_by_the_wrong_digest_is_digest_invalid(api: httpx.Client) -> None:
    body = encode(image_manifest(api, REPO))
    wrong = digest_of(body + b" ")
    assert_error(put_manifest(api, REPO, wrong, body, OCI_MANIFEST), 400, "DIGEST_INVALID")
    assert_error(api.get(f"/v2/{REPO}/manifests/{wrong}"), 404, "MANIFEST_UNKNOWN")
    assert_error(api.get(f"/v2/{REPO}/manifests/{digest_of(body)}"), 404, "MANIFEST_UNKNOWN")


def without(document: dict[str, Any], part: str) -> dict[str, Any]:
    """An image manifest whose config or first layer names a blob never pushed."""
    missing = descriptor("application/octet-stream", b"never pushed")
    if part == "config":
        return {**document, "config": missing}
    return {**document, "layers": [missing, *document["layers"]]}


@pytest.mark.parametrize("part", ["config", "layer"])
def test_manifest_with_a_missing_blob_is_manifest_blob_unknown(api: httpx.Client, part: str) -> None:
    document = without(image_manifest(api, REPO), part)
    error = assert_error(put_manifest(api, REPO, "v1", document, OCI_MANIFEST), 400, "MANIFEST_BLOB_UNKNOWN")
    assert error.get("detail") is None or digest_of(b"never pushed") in json.dumps(error["detail"])


def test_manifest_with_a_blob_of_another_repository_is_manifest_blob_unknown(api: httpx.Client) -> None:
    document = image_manifest(api, "elsewhere/repo")
    assert_error(put_manifest(api, REPO, "v1", document, OCI_MANIFEST), 400, "MANIFEST_BLOB_UNKNOWN")


@pytest.mark.parametrize("media_type", [OCI_INDEX, DOCKER_LIST])
def test_index_with_a_missing_child_is_manifest_blob_unknown(api: httpx.Client, media_type: str) -> None:
    child = Pushed(OCI_MANIFEST, b"{}", digest_of(b"a child never pushed"))
    present = push_image(api, REPO, "present")
    document = index_manifest([present, child], media_type)
    assert_error(put_manifest(api, REPO, "v1", document, media_type), 400, "MANIFEST_BLOB_UNKNOWN")


@pytest.mark.parametrize("tag", ["-leading-dash", ".leading-dot", "a" * 129, "has+plus", "has%20space", "ümlaut"])
def test_bad_tag_is_tag_invalid(api: httpx.Client, tag: str) -> None:
    document = image_manifest(api, REPO)
    assert_error(put_manifest(api, REPO, tag, document, OCI_MANIFEST), 400, "TAG_INVALID")


@pytest.mark.parametrize("tag", ["a", "_underscore", "1.0.0-rc.1_build", "A" * 128, "UPPER.lower-9"])
def test_valid_tags_are_accepted(api: httpx.Client, tag: str) -> None:
    pushed = push_image(api, REPO, tag)
    assert api.get(f"/v2/{REPO}/manifests/{tag}").content == pushed.body
    assert api.get(f"/v2/{REPO}/tags/list").json()["tags"] == [tag]


def test_subject_is_answered_as_oci_subject_even_when_it_was_never_pushed(api: httpx.Client) -> None:
    absent = Pushed(OCI_MANIFEST, b"{}", digest_of(b"an image not pushed yet"))
    document = artifact_manifest(api, REPO, "application/vnd.example.sig", subject=absent)
    response = put_manifest(api, REPO, "sig", document, OCI_MANIFEST)
    assert response.status_code == 201, response.text
    assert response.headers["OCI-Subject"] == absent.digest


def test_manifest_without_subject_has_no_oci_subject(api: httpx.Client) -> None:
    response = put_manifest(api, REPO, "v1", image_manifest(api, REPO), OCI_MANIFEST)
    assert response.status_code == 201
    assert "OCI-Subject" not in response.headers


def test_pushing_a_tag_again_moves_it(api: httpx.Client) -> None:
    first = push_image(api, REPO, "latest", seed="first")
    second = push_image(api, REPO, "latest", seed="second")
    assert api.get(f"/v2/{REPO}/manifests/latest").content == second.body
    assert api.get(f"/v2/{REPO}/manifests/{first.digest}").content == first.body


def test_delete_by_digest_removes_every_tag_of_the_manifest(api: httpx.Client) -> None:
    pushed = push_image(api, REPO, "one")
    push_manifest(api, REPO, "two", pushed.body, OCI_MANIFEST)
    other = push_image(api, REPO, "other", seed="other")
    assert api.delete(f"/v2/{REPO}/manifests/{pushed.digest}").status_code == 202
    for reference in ("one", "two", pushed.digest):
        assert_error(api.get(f"/v2/{REPO}/manifests/{reference}"), 404, "MANIFEST_UNKNOWN")
    assert api.get(f"/v2/{REPO}/tags/list").json()["tags"] == ["other"]
    assert api.get(f"/v2/{REPO}/manifests/other").content == other.body


def test_delete_by_tag_only_untags(api: httpx.Client) -> None:
    pushed = push_image(api, REPO, "one")
    push_manifest(api, REPO, "two", pushed.body, OCI_MANIFEST)
    assert api.delete(f"/v2/{REPO}/manifests/one").status_code == 202
    assert_error(api.get(f"/v2/{REPO}/manifests/one"), 404, "MANIFEST_UNKNOWN")
    assert_error(api.delete(f"/v2/{REPO}/manifests/one"), 404, "MANIFEST_UNKNOWN")
    assert api.get(f"/v2/{REPO}/manifests/two").content == pushed.body
    assert api.get(f"/v2/{REPO}/manifests/{pushed.digest}").content == pushed.body
    assert api.get(f"/v2/{REPO}/tags/list").json()["tags"] == ["two"]


def test_delete_in_one_repository_keeps_the_manifest_in_another(api: httpx.Client) -> None:
    pushed = push_image(api, REPO, "v1")
    copy = push_image(api, "copy/repo", "v1")
    assert copy.digest == pushed.digest
    assert api.delete(f"/v2/{REPO}/manifests/{pushed.digest}").status_code == 202
    assert api.get("/v2/copy/repo/manifests/v1").content == pushed.body


def test_manifest_of_another_repository_is_manifest_unknown(api: httpx.Client) -> None:
    pushed = push_image(api, REPO, "v1")
    push_image(api, "stranger/repo", "mine", seed="stranger")
    assert_error(api.get(f"/v2/stranger/repo/manifests/{pushed.digest}"), 404, "MANIFEST_UNKNOWN")
    assert_error(api.delete(f"/v2/stranger/repo/manifests/{pushed.digest}"), 404, "MANIFEST_UNKNOWN")

"""Tag lists, the catalog (`n`/`last` pagination with `Link`) and the referrers API."""

from __future__ import annotations

import re

import httpx
import pytest

from tests.helpers import assert_error, digest_of, push_blob
from tests.manifest_builders import (
    OCI_INDEX,
    OCI_MANIFEST,
    Pushed,
    artifact_manifest,
    encode,
    image_manifest,
    index_manifest,
    push_image,
    push_manifest,
)

REPO = "listings/test"
TAGS = sorted(["1.0", "1.1", "10.0", "2.0", "A", "Z", "_x", "a", "latest", "z"])
REPOS = sorted(["alpha", "beta/one", "beta/two", "gamma/deep/er/repo", "zeta"])
LINK = re.compile(r'<([^>]+)>;\s*rel="next"')


@pytest.fixture
def tagged(api: httpx.Client) -> Pushed:
    """An image in REPO under every tag of TAGS."""
    pushed = push_image(api, REPO, TAGS[0])
    for tag in TAGS[1:]:
        push_manifest(api, REPO, tag, pushed.body, OCI_MANIFEST)
    return pushed


@pytest.fixture
def repositories(api: httpx.Client) -> None:
    """Every repository of REPOS, made by a blob push."""
    for name in REPOS:
        push_blob(api, name, name.encode())


def follow(api: httpx.Client, path: str, key: str, n: int) -> tuple[list[str], list[list[str]]]:
    """Page through a listing by its `Link` headers; return everything and each page."""
    pages: list[list[str]] = []
    url: str | None = f"{path}?n={n}"
    while url is not None and len(pages) <= 50:
        response = api.get(url)
        assert response.status_code == 200, response.text
        pages.append(response.json()[key])
        found = LINK.fullmatch(response.headers.get("Link", ""))
        url = found.group(1) if found else None
    return [item for page in pages for item in page], pages


@pytest.mark.parametrize("n", [1, 2, 3, 9])
def test_tag_pages_follow_link_to_every_tag(api: httpx.Client, tagged: Pushed, n: int) -> None:
    everything, pages = follow(api, f"/v2/{REPO}/tags/list", "tags", n)
    assert everything == TAGS
    assert all(len(page) == n for page in pages[:-1])
    assert 1 <= len(pages[-1]) <= n


def test_last_tag_page_has_no_link(api: httpx.Client, tagged: Pushed) -> None:
    response = api.get(f"/v2/{REPO}/tags/list", params={"n": len(TAGS)})
    assert response.json()["tags"] == TAGS
    assert "Link" not in response.headers


def test_full_tag_page_links_to_the_next(api: httpx.Client, tagged: Pushed) -> None:
    response = api.get(f"/v2/{REPO}/tags/list", params={"n": 3})
    assert response.json()["tags"] == TAGS[:3]
    link = LINK.fullmatch(response.headers["Link"])
    assert link is not None
    assert httpx.URL(link.group(1)).path == f"/v2/{REPO}/tags/list"
    assert httpx.URL(link.group(1)).params["last"] == TAGS[2]


def test_tags_after_last(api: httpx.Client, tagged: Pushed) -> None:
    response = api.get(f"/v2/{REPO}/tags/list", params={"last": "2.0"})
    assert response.json() == {"name": REPO, "tags": TAGS[TAGS.index("2.0") + 1 :]}


def test_a_page_after_a_tag_holds_more_than_a_thousand_tags(api: httpx.Client) -> None:
    pushed = push_image(api, REPO, "t0000")
    many = [f"t{i:04d}" for i in range(1200)]
    for tag in many[1:]:
        push_manifest(api, REPO, tag, pushed.body, OCI_MANIFEST)
    everything, pages = follow(api, f"/v2/{REPO}/tags/list", "tags", 1100)
    assert everything == many
    assert [len(page) for page in pages] == [1100, 100]
    response = api.get(f"/v2/{REPO}/tags/list", params={"last": many[0]})
    assert response.json()["tags"] == many[1:]


def test_n_zero_is_an_empty_list_without_link(api: httpx.Client, tagged: Pushed) -> None:
    response = api.get(f"/v2/{REPO}/tags/list", params={"n": 0})
    assert response.status_code == 200
    assert response.json() == {"name": REPO, "tags": []}
    assert "Link" not in response.headers


@pytest.mark.parametrize("endpoint", [f"/v2/{REPO}/tags/list", "/v2/_catalog"])
@pytest.mark.parametrize("n", ["-1", "abc", "1.5", "0x10", " 2"])
def test_bad_n_is_pagination_number_invalid(api: httpx.Client, tagged: Pushed, endpoint: str, n: str) -> None:
    assert_error(api.get(endpoint, params={"n": n}), 400, "PAGINATION_NUMBER_INVALID")


def test_tags_of_an_unknown_repository_is_name_unknown(api: httpx.Client) -> None:
    assert_error(api.get("/v2/never/pushed/tags/list"), 404, "NAME_UNKNOWN")


def test_repository_whose_tags_were_all_deleted_lists_none(api: httpx.Client) -> None:
    push_image(api, REPO, "only")
    assert api.delete(f"/v2/{REPO}/manifests/only").status_code == 202
    response = api.get(f"/v2/{REPO}/tags/list")
    assert response.status_code == 200
    assert response.json()["tags"] == []


def test_catalog_lists_repositories_in_lexical_order(api: httpx.Client, repositories: None) -> None:
    response = api.get("/v2/_catalog")
    assert response.status_code == 200
    assert response.json() == {"repositories": REPOS}


def test_catalog_of_an_empty_registry_is_empty(api: httpx.Client) -> None:
    response = api.get("/v2/_catalog")
    assert response.status_code == 200
    assert response.json() == {"repositories": []}


@pytest.mark.parametrize("n", [1, 2, 4])
def test_catalog_pages_follow_link_to_every_repository(api: httpx.Client, repositories: None, n: int) -> None:
    everything, pages = follow(api, "/v2/_catalog", "repositories", n)
    assert everything == REPOS
    assert all(len(page) == n for page in pages[:-1])


def test_catalog_after_last_and_n_zero(api: httpx.Client, repositories: None) -> None:
    assert api.get("/v2/_catalog", params={"last": "beta/two"}).json()["repositories"] == REPOS[3:]
    empty = api.get("/v2/_catalog", params={"n": 0})
    assert empty.json() == {"repositories": []}
    assert "Link" not in empty.headers


# -- referrers ---------------------------------------------------------------------------------


def push_referrer(api: httpx.Client, subject: Pushed, artifact_type: str, annotations: dict[str, str] | None = None) -> Pushed:
    """An artifact whose subject is `subject`, pushed by digest."""
    document = artifact_manifest(api, REPO, artifact_type, seed=artifact_type, subject=subject, annotations=annotations)
    body = encode(document)
    return push_manifest(api, REPO, digest_of(body), body, OCI_MANIFEST)


def referrers(api: httpx.Client, digest: str, **params: str) -> httpx.Response:
    """GET the referrers of `digest` in REPO, checking it is an OCI image index."""
    response = api.get(f"/v2/{REPO}/referrers/{digest}", params=params)
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"] == OCI_INDEX
    assert response.json()["schemaVersion"] == 2
    assert response.json()["mediaType"] == OCI_INDEX
    return response


def test_referrer_descriptors_carry_artifact_type_and_annotations(api: httpx.Client) -> None:
    image = push_image(api, REPO, "v1")
    signature = push_referrer(api, image, "application/vnd.example.sig", annotations={"org.example.signer": "me"})
    sbom = push_referrer(api, image, "application/vnd.example.sbom")
    found = referrers(api, image.digest).json()["manifests"]
    expected = [
        signature.descriptor(artifactType="application/vnd.example.sig", annotations={"org.example.signer": "me"}),
        sbom.descriptor(artifactType="application/vnd.example.sbom"),
    ]
    assert sorted(found, key=lambda d: d["digest"]) == sorted(expected, key=lambda d: d["digest"])


def test_referrer_without_artifact_type_takes_its_config_media_type(api: httpx.Client) -> None:
    image = push_image(api, REPO, "v1")
    document = image_manifest(api, REPO, seed="attached", subject=image.descriptor())
    document["config"]["mediaType"] = "application/vnd.example.config.v1+json"
    attached = push_manifest(api, REPO, "attached", document, OCI_MANIFEST)
    descriptors = referrers(api, image.digest).json()["manifests"]
    assert descriptors == [attached.descriptor(artifactType="application/vnd.example.config.v1+json")]


def test_index_with_a_subject_is_a_referrer(api: httpx.Client) -> None:
    image = push_image(api, REPO, "v1")
    document = index_manifest([image], artifactType="application/vnd.example.bundle", subject=image.descriptor())
    bundle = push_manifest(api, REPO, "bundle", document, OCI_INDEX)
    descriptors = referrers(api, image.digest).json()["manifests"]
    assert descriptors == [bundle.descriptor(artifactType="application/vnd.example.bundle")]


def test_artifact_type_filter_is_announced(api: httpx.Client) -> None:
    image = push_image(api, REPO, "v1")
    push_referrer(api, image, "application/vnd.example.sig")
    sbom = push_referrer(api, image, "application/vnd.example.sbom")
    response = referrers(api, image.digest, artifactType="application/vnd.example.sbom")
    assert response.headers["OCI-Filters-Applied"] == "artifactType"
    assert response.json()["manifests"] == [sbom.descriptor(artifactType="application/vnd.example.sbom")]
    nothing = referrers(api, image.digest, artifactType="application/vnd.example.none")
    assert nothing.headers["OCI-Filters-Applied"] == "artifactType"
    assert nothing.json()["manifests"] == []


def test_unfiltered_referrers_announce_no_filter(api: httpx.Client) -> None:
    image = push_image(api, REPO, "v1")
    push_referrer(api, image, "application/vnd.example.sig")
    assert "OCI-Filters-Applied" not in referrers(api, image.digest).headers


def test_referrers_of_a_subject_never_pushed_are_listed(api: httpx.Client) -> None:
    absent = Pushed(OCI_MANIFEST, b"{}", digest_of(b"not pushed"))
    sig = push_referrer(api, absent, "application/vnd.example.sig")
    assert referrers(api, absent.digest).json()["manifests"] == [sig.descriptor(artifactType="application/vnd.example.sig")]


def test_manifest_without_referrers_has_an_empty_index(api: httpx.Client) -> None:
    image = push_image(api, REPO, "v1")
    assert referrers(api, image.digest).json()["manifests"] == []


def test_referrers_in_an_unknown_repository_are_an_empty_index(api: httpx.Client) -> None:
    response = api.get(f"/v2/never/pushed/referrers/{digest_of(b'x')}")
    assert response.status_code == 200
    assert response.json() == {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []}


def test_deleted_referrer_is_no_longer_listed(api: httpx.Client) -> None:
    image = push_image(api, REPO, "v1")
    sig = push_referrer(api, image, "application/vnd.example.sig")
    assert api.delete(f"/v2/{REPO}/manifests/{sig.digest}").status_code == 202
    assert referrers(api, image.digest).json()["manifests"] == []


def test_referrers_belong_to_their_repository(api: httpx.Client) -> None:
    image = push_image(api, REPO, "v1")
    push_referrer(api, image, "application/vnd.example.sig")
    response = api.get(f"/v2/other/repo/referrers/{image.digest}")
    assert response.status_code == 200
    assert response.json()["manifests"] == []


@pytest.mark.parametrize("digest", ["latest", "sha256:abc", "md5:" + "0" * 32])
def test_referrers_of_an_invalid_digest_is_digest_invalid(api: httpx.Client, digest: str) -> None:
    assert_error(api.get(f"/v2/{REPO}/referrers/{digest}"), 400, "DIGEST_INVALID")

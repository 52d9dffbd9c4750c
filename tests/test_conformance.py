"""OCI Distribution Spec v1.1 over HTTP, in the four categories of the OCI conformance suite:
pull, push, content discovery and content management.

Edge cases of each endpoint are in the `test_api_*` modules; this module walks the workflows,
each one twice: against the embedded registry, and black-box against a `tinyreg serve` process.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from tinyreg.testing import RunningRegistry

from tests.helpers import API_VERSION, api_client, assert_error, digest_of, make_blob, push_blob, start_upload, upload_in_chunks
from tests.manifest_builders import OCI_INDEX, OCI_MANIFEST, artifact_manifest, push_image, push_manifest, put_manifest
from tests.processes import ServerProcess
from tests.servers.nodes import cluster, postgresql_and_s3

REPO = "conformance/project"
UNKNOWN_DIGEST = digest_of(b"never pushed")


@pytest.fixture(params=["embedded", "tinyreg-serve", "two-nodes-postgresql-s3"])
def api(
    request: pytest.FixtureRequest, tmp_path: Path, tinyreg_factory: Callable[..., RunningRegistry]
) -> Iterator[httpx.Client]:
    """A client of a fresh registry: the embedded one, a `tinyreg serve` process on port 0, or two
    nodes on PostgreSQL and S3 behind haproxy (blobs streamed: the redirect is the clients' tests')."""
    if request.param == "embedded":
        with api_client(tinyreg_factory().url) as client:
            yield client
        return
    if request.param == "two-nodes-postgresql-s3":
        shared = postgresql_and_s3(request, tmp_path / "keys", "--blobs-redirect", "off", "--no-access-log")
        with cluster(tmp_path, shared) as nodes, api_client(nodes.url) as client:
            yield client
        return
    command = ["serve", "--port", "0", "--data", str(tmp_path / "data"), "--no-access-log"]
    with ServerProcess(command, cwd=tmp_path) as server:
        with api_client(server.wait_listening()) as client:
            yield client


class TestPull:
    """Pulling manifests and blobs (end-1, end-2, end-3)."""

    @pytest.mark.parametrize("method", ["GET", "HEAD"])
    def test_base_endpoint_says_the_registry_implements_v2(self, api: httpx.Client, method: str) -> None:
        response = api.request(method, "/v2/")
        assert response.status_code == 200
        assert response.headers["Docker-Distribution-API-Version"] == API_VERSION

    @pytest.mark.parametrize("by", ["tag", "digest"])
    def test_get_manifest_returns_the_pushed_bytes(self, api: httpx.Client, by: str) -> None:
        pushed = push_image(api, REPO, "v1")
        response = api.get(f"/v2/{REPO}/manifests/{'v1' if by == 'tag' else pushed.digest}")
        assert response.status_code == 200
        assert response.content == pushed.body
        assert response.headers["Content-Type"] == OCI_MANIFEST
        assert response.headers["Docker-Content-Digest"] == pushed.digest
        assert response.headers["Content-Length"] == str(len(pushed.body))

    @pytest.mark.parametrize("by", ["tag", "digest"])
    def test_head_manifest_answers_headers_without_a_body(self, api: httpx.Client, by: str) -> None:
        pushed = push_image(api, REPO, "v1")
        response = api.head(f"/v2/{REPO}/manifests/{'v1' if by == 'tag' else pushed.digest}")
        assert response.status_code == 200
        assert response.content == b""
        assert response.headers["Content-Type"] == OCI_MANIFEST
        assert response.headers["Docker-Content-Digest"] == pushed.digest
        assert response.headers["Content-Length"] == str(len(pushed.body))

    def test_get_blob_returns_its_exact_bytes(self, api: httpx.Client) -> None:
        data = make_blob("pull", 5000)
        digest = push_blob(api, REPO, data)
        response = api.get(f"/v2/{REPO}/blobs/{digest}")
        assert response.status_code == 200
        assert response.content == data
        assert response.headers["Docker-Content-Digest"] == digest
        assert response.headers["Content-Length"] == str(len(data))

    def test_head_blob_answers_its_length_and_digest(self, api: httpx.Client) -> None:
        data = make_blob("pull", 5000)
        digest = push_blob(api, REPO, data)
        response = api.head(f"/v2/{REPO}/blobs/{digest}")
        assert response.status_code == 200
        assert response.content == b""
        assert response.headers["Docker-Content-Digest"] == digest
        assert response.headers["Content-Length"] == str(len(data))

    @pytest.mark.parametrize("reference", ["missing", UNKNOWN_DIGEST])
    def test_unknown_manifest_is_404_manifest_unknown(self, api: httpx.Client, reference: str) -> None:
        push_image(api, REPO, "v1")
        assert_error(api.get(f"/v2/{REPO}/manifests/{reference}"), 404, "MANIFEST_UNKNOWN")
        assert api.head(f"/v2/{REPO}/manifests/{reference}").status_code == 404

    def test_manifest_of_a_repository_never_pushed_to_is_404(self, api: httpx.Client) -> None:
        assert_error(api.get("/v2/nobody/here/manifests/latest"), 404, "MANIFEST_UNKNOWN", "NAME_UNKNOWN")

    def test_unknown_blob_is_404_blob_unknown(self, api: httpx.Client) -> None:
        push_blob(api, REPO, b"something else")
        assert_error(api.get(f"/v2/{REPO}/blobs/{UNKNOWN_DIGEST}"), 404, "BLOB_UNKNOWN")
        assert api.head(f"/v2/{REPO}/blobs/{UNKNOWN_DIGEST}").status_code == 404


class TestPush:
    """Pushing blobs (end-4a, end-4b, end-5, end-6, end-11) and manifests (end-7)."""

    def test_post_then_put_uploads_a_blob(self, api: httpx.Client) -> None:
        data = make_blob("post-put", 3000)
        location = start_upload(api, REPO)
        response = api.put(
            location, params={"digest": digest_of(data)}, content=data, headers={"Content-Type": "application/octet-stream"}
        )
        assert response.status_code == 201, response.text
        assert response.headers["Docker-Content-Digest"] == digest_of(data)
        assert api.get(response.headers["Location"]).content == data

    def test_single_post_with_digest_uploads_a_blob(self, api: httpx.Client) -> None:
        data = make_blob("monolithic", 3000)
        response = api.post(
            f"/v2/{REPO}/blobs/uploads/",
            params={"digest": digest_of(data)},
            content=data,
            headers={"Content-Type": "application/octet-stream"},
        )
        assert response.status_code == 201, response.text
        assert httpx.URL(response.headers["Location"]).path == f"/v2/{REPO}/blobs/{digest_of(data)}"
        assert response.headers["Docker-Content-Digest"] == digest_of(data)
        assert api.get(response.headers["Location"]).content == data

    def test_chunked_upload_reports_its_range_after_each_chunk(self, api: httpx.Client) -> None:
        data = make_blob("chunked", 2500)
        location = upload_in_chunks(api, start_upload(api, REPO), data, 1000)
        response = api.put(location, params={"digest": digest_of(data)})
        assert response.status_code == 201, response.text
        assert api.get(f"/v2/{REPO}/blobs/{digest_of(data)}").content == data

    def test_mount_links_a_blob_of_another_repository(self, api: httpx.Client) -> None:
        data = make_blob("mounted", 700)
        digest = push_blob(api, "source/repo", data)
        response = api.post(f"/v2/{REPO}/blobs/uploads/", params={"mount": digest, "from": "source/repo"})
        assert response.status_code == 201, response.text
        assert httpx.URL(response.headers["Location"]).path == f"/v2/{REPO}/blobs/{digest}"
        assert response.headers["Docker-Content-Digest"] == digest
        assert api.get(f"/v2/{REPO}/blobs/{digest}").content == data

    @pytest.mark.parametrize("reference", ["v1.0", "digest"])
    def test_put_manifest_answers_201_with_location_and_digest(self, api: httpx.Client, reference: str) -> None:
        pushed = push_image(api, REPO, "first")
        target = pushed.digest if reference == "digest" else reference
        response = put_manifest(api, REPO, target, pushed.body, OCI_MANIFEST)
        assert response.status_code == 201, response.text
        assert response.headers["Docker-Content-Digest"] == pushed.digest
        assert api.get(response.headers["Location"]).content == pushed.body

    def test_manifest_with_subject_answers_oci_subject(self, api: httpx.Client) -> None:
        image = push_image(api, REPO, "v1")
        document = artifact_manifest(api, REPO, "application/vnd.example.sbom", subject=image)
        response = put_manifest(api, REPO, "sbom", document, OCI_MANIFEST)
        assert response.status_code == 201, response.text
        assert response.headers["OCI-Subject"] == image.digest


class TestContentDiscovery:
    """Listing tags (end-8a, end-8b) and referrers (end-12a, end-12b)."""

    TAGS = ["1.0", "1.1", "2.0", "latest", "stable"]

    def _push_tags(self, api: httpx.Client) -> None:
        pushed = push_image(api, REPO, self.TAGS[-1])
        for tag in self.TAGS[:-1]:
            push_manifest(api, REPO, tag, pushed.body, OCI_MANIFEST)

    def test_tags_list_names_every_tag_in_lexical_order(self, api: httpx.Client) -> None:
        self._push_tags(api)
        response = api.get(f"/v2/{REPO}/tags/list")
        assert response.status_code == 200
        assert response.json() == {"name": REPO, "tags": self.TAGS}

    @pytest.mark.parametrize(
        ("query", "expected"),
        [
            ({"n": "2"}, ["1.0", "1.1"]),
            ({"n": "2", "last": "1.1"}, ["2.0", "latest"]),
            ({"n": "10", "last": "latest"}, ["stable"]),
            ({"last": "2.0"}, ["latest", "stable"]),
            ({"n": "5"}, TAGS),
        ],
    )
    def test_tags_list_honours_n_and_last(self, api: httpx.Client, query: dict[str, str], expected: list[str]) -> None:
        self._push_tags(api)
        response = api.get(f"/v2/{REPO}/tags/list", params=query)
        assert response.status_code == 200
        assert response.json()["tags"] == expected

    def test_referrers_lists_the_manifests_whose_subject_is_the_digest(self, api: httpx.Client) -> None:
        image = push_image(api, REPO, "v1")
        sbom = push_manifest(
            api,
            REPO,
            "sbom",
            artifact_manifest(api, REPO, "application/vnd.example.sbom", subject=image, annotations={"org.example": "yes"}),
            OCI_MANIFEST,
        )
        response = api.get(f"/v2/{REPO}/referrers/{image.digest}")
        assert response.status_code == 200
        assert response.headers["Content-Type"] == OCI_INDEX
        assert response.json() == {
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [sbom.descriptor(artifactType="application/vnd.example.sbom", annotations={"org.example": "yes"})],
        }

    def test_referrers_filtered_by_artifact_type(self, api: httpx.Client) -> None:
        image = push_image(api, REPO, "v1")
        for kind in ("sbom", "signature"):
            document = artifact_manifest(api, REPO, f"application/vnd.example.{kind}", seed=kind, subject=image)
            push_manifest(api, REPO, kind, document, OCI_MANIFEST)
        response = api.get(f"/v2/{REPO}/referrers/{image.digest}", params={"artifactType": "application/vnd.example.sbom"})
        assert response.status_code == 200
        assert response.headers["OCI-Filters-Applied"] == "artifactType"
        assert [d["artifactType"] for d in response.json()["manifests"]] == ["application/vnd.example.sbom"]

    def test_referrers_of_a_manifest_never_pushed_is_an_empty_index(self, api: httpx.Client) -> None:
        response = api.get(f"/v2/{REPO}/referrers/{UNKNOWN_DIGEST}")
        assert response.status_code == 200
        assert response.json() == {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []}


class TestContentManagement:
    """Deleting tags, manifests (end-9) and blobs (end-10)."""

    def test_delete_tag_leaves_the_manifest(self, api: httpx.Client) -> None:
        pushed = push_image(api, REPO, "v1")
        assert api.delete(f"/v2/{REPO}/manifests/v1").status_code == 202
        assert_error(api.get(f"/v2/{REPO}/manifests/v1"), 404, "MANIFEST_UNKNOWN")
        assert api.get(f"/v2/{REPO}/manifests/{pushed.digest}").content == pushed.body

    def test_delete_manifest_by_digest(self, api: httpx.Client) -> None:
        pushed = push_image(api, REPO, "v1")
        assert api.delete(f"/v2/{REPO}/manifests/{pushed.digest}").status_code == 202
        assert_error(api.get(f"/v2/{REPO}/manifests/{pushed.digest}"), 404, "MANIFEST_UNKNOWN")
        assert_error(api.get(f"/v2/{REPO}/manifests/v1"), 404, "MANIFEST_UNKNOWN")

    @pytest.mark.parametrize("reference", ["missing", UNKNOWN_DIGEST])
    def test_delete_unknown_manifest_is_404(self, api: httpx.Client, reference: str) -> None:
        push_image(api, REPO, "v1")
        assert_error(api.delete(f"/v2/{REPO}/manifests/{reference}"), 404, "MANIFEST_UNKNOWN")

    def test_delete_blob(self, api: httpx.Client) -> None:
        digest = push_blob(api, REPO, make_blob("doomed"))
        assert api.delete(f"/v2/{REPO}/blobs/{digest}").status_code == 202
        assert_error(api.get(f"/v2/{REPO}/blobs/{digest}"), 404, "BLOB_UNKNOWN")
        assert_error(api.delete(f"/v2/{REPO}/blobs/{digest}"), 404, "BLOB_UNKNOWN")

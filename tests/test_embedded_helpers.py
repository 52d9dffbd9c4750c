"""The push and access helpers of `RunningRegistry`, checked over HTTP against a real registry.

`push_image`, `push_artifact` and `push_blob` write straight into storage; what they stored must
be served as a real image (gzip tar layers, matching diff ids) or artifact. `create_user`,
`create_project`, `add_member`, `create_token` and `create_deploy_token` must give credentials
that log in with Basic auth exactly as their scopes and roles allow.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from collections.abc import Iterator

import httpx
import pytest
from tinyreg.registry.errors import RegistryError
from tinyreg.testing import RunningRegistry, run_registry

from tests.auth_helpers import basic_auth
from tests.helpers import assert_error, digest_of
from tests.manifest_builders import OCI_INDEX, OCI_MANIFEST


@pytest.fixture(scope="module")
def registry() -> Iterator[RunningRegistry]:
    """One registry for the push-helper tests (each test uses repositories of its own)."""
    with run_registry() as running:
        yield running


def get(registry: RunningRegistry, path: str, **headers: str) -> httpx.Response:
    """`GET <registry>/<path>` (sync; the registry serves from its own thread)."""
    return httpx.get(registry.url + path, headers=headers, timeout=60)


def fetch_blob(registry: RunningRegistry, repo: str, digest: str) -> bytes:
    """A blob the registry must serve with a body matching `digest`."""
    response = get(registry, f"/v2/{repo}/blobs/{digest}")
    assert response.status_code == 200, response.text
    assert response.headers["Docker-Content-Digest"] == digest
    assert digest_of(response.content) == digest
    return response.content


def fetch_manifest(registry: RunningRegistry, repo: str, reference: str) -> httpx.Response:
    """A manifest the registry must serve, its header digest matching its bytes."""
    response = get(registry, f"/v2/{repo}/manifests/{reference}", Accept=OCI_MANIFEST)
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"] == OCI_MANIFEST
    assert response.headers["Docker-Content-Digest"] == digest_of(response.content)
    return response


# -- push helpers ---------------------------------------------------------------------------


@pytest.mark.parametrize(("layers", "architecture"), [(1, "amd64"), (3, "amd64"), (1, "arm64")])
def test_push_image_stores_a_real_image_whose_config_lists_the_layers_diff_ids(
    registry: RunningRegistry, layers: int, architecture: str
) -> None:
    repo = f"images/{architecture}-{layers}"
    digest = registry.push_image(repo, "v1", layers=layers, architecture=architecture)

    response = fetch_manifest(registry, repo, "v1")
    assert response.headers["Docker-Content-Digest"] == digest
    assert fetch_manifest(registry, repo, digest).content == response.content
    manifest = response.json()
    config = json.loads(fetch_blob(registry, repo, manifest["config"]["digest"]))
    assert (config["architecture"], config["os"]) == (architecture, "linux")
    assert len(manifest["layers"]) == layers
    diff_ids = []
    for descriptor in manifest["layers"]:
        assert descriptor["mediaType"] == "application/vnd.oci.image.layer.v1.tar+gzip"
        compressed = fetch_blob(registry, repo, descriptor["digest"])
        assert len(compressed) == descriptor["size"]
        tar = gzip.decompress(compressed)
        with tarfile.open(fileobj=io.BytesIO(tar)) as archive:
            assert [member.isfile() for member in archive.getmembers()] == [True]
        diff_ids.append(digest_of(tar))
    assert config["rootfs"] == {"type": "layers", "diff_ids": diff_ids}
    assert get(registry, f"/v2/{repo}/tags/list").json()["tags"] == ["v1"]


def test_push_image_without_a_tag_is_reachable_by_digest_only(registry: RunningRegistry) -> None:
    digest = registry.push_image("images/untagged", None)
    assert fetch_manifest(registry, "images/untagged", digest).headers["Docker-Content-Digest"] == digest
    assert get(registry, "/v2/images/untagged/tags/list").json()["tags"] == []


def test_push_blob_returns_the_digest_the_registry_serves_it_under(registry: RunningRegistry) -> None:
    data = b"a blob pushed by the helper\n" * 10
    digest = registry.push_blob("blobs/plain", data)
    assert digest == "sha256:" + hashlib.sha256(data).hexdigest()
    assert fetch_blob(registry, "blobs/plain", digest) == data
    assert get(registry, f"/v2/blobs/other/blobs/{digest}").status_code == 404


def test_push_helpers_refuse_an_invalid_repository_name(registry: RunningRegistry) -> None:
    with pytest.raises(RegistryError) as info:
        registry.push_blob("Not/A/Valid/Name", b"x")
    assert info.value.code == "NAME_INVALID"


def test_push_artifact_with_a_subject_is_listed_by_the_referrers_api(registry: RunningRegistry) -> None:
    subject = registry.push_image("artifacts/app", "v1")
    files = {"sbom.json": b'{"spdxVersion": "SPDX-2.3"}', "notes.txt": b"signed off\n"}
    digest = registry.push_artifact("artifacts/app", None, files, artifact_type="application/spdx+json", subject=subject)

    manifest = fetch_manifest(registry, "artifacts/app", digest)
    document = manifest.json()
    assert document["artifactType"] == "application/spdx+json"
    assert document["subject"]["digest"] == subject
    titles = {layer["annotations"]["org.opencontainers.image.title"]: layer["digest"] for layer in document["layers"]}
    assert {name: fetch_blob(registry, "artifacts/app", titles[name]) for name in files} == files

    response = get(registry, f"/v2/artifacts/app/referrers/{subject}")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == OCI_INDEX
    assert response.json()["manifests"] == [
        {
            "mediaType": OCI_MANIFEST,
            "digest": digest,
            "size": len(manifest.content),
            "artifactType": "application/spdx+json",
        }
    ]
    filtered = get(registry, f"/v2/artifacts/app/referrers/{subject}?artifactType=application/other")
    assert filtered.json()["manifests"] == []


def test_push_artifact_refuses_a_subject_that_is_not_in_the_repository(registry: RunningRegistry) -> None:
    with pytest.raises(RegistryError) as info:
        registry.push_artifact("artifacts/none", "v1", {"a": b"1"}, artifact_type="application/x", subject=digest_of(b"?"))
    assert info.value.code == "MANIFEST_UNKNOWN"


# -- access helpers (auth=True) -------------------------------------------------------------


@pytest.fixture(scope="module")
def guarded() -> Iterator[tuple[RunningRegistry, dict[str, dict[str, str]]]]:
    """A registry with auth on: ci owns the private `team/app`, rita is a reporter, olga is no member;
    returns it with the credentials of each caller."""
    with run_registry(auth=True) as running:
        for user in ("ci", "rita", "olga"):
            running.create_user(user, f"{user}-password-1234")
        running.create_project("team/app", owner="ci")
        running.add_member("team/app", "rita", "reporter")
        running.push_image("team/app", "1.0")
        deploy_user, deploy_secret = running.create_deploy_token("team/app")
        callers = {
            "anonymous": {},
            "owner token": basic_auth("ci", running.create_token("ci")),
            "read-only owner token": basic_auth("ci", running.create_token("ci", ["read_registry"])),
            "reporter token": basic_auth("rita", running.create_token("rita")),
            "non-member token": basic_auth("olga", running.create_token("olga")),
            "expired token": basic_auth("ci", running.create_token("ci", expires_in=-1)),
            "wrong secret": basic_auth("ci", "not-the-token"),
            "deploy token": basic_auth(deploy_user, deploy_secret),
        }
        yield running, callers


@pytest.mark.parametrize(
    ("caller", "pull", "push"),
    [
        ("anonymous", 401, 401),
        ("owner token", 200, 202),
        ("read-only owner token", 200, 403),
        ("reporter token", 200, 403),
        ("non-member token", 403, 403),
        ("expired token", 401, 401),
        ("wrong secret", 401, 401),
        ("deploy token", 200, 403),
    ],
)
def test_tokens_made_by_the_helpers_log_in_with_basic_auth(
    guarded: tuple[RunningRegistry, dict[str, dict[str, str]]], caller: str, pull: int, push: int
) -> None:
    running, callers = guarded
    with httpx.Client(base_url=running.url, headers=callers[caller], timeout=60) as client:
        tags = client.get("/v2/team/app/tags/list")
        upload = client.post("/v2/team/app/blobs/uploads/")
    assert (tags.status_code, upload.status_code) == (pull, push), (tags.text, upload.text)
    if pull == 200:
        assert tags.json() == {"name": "team/app", "tags": ["1.0"]}
    else:
        assert_error(tags, pull)
    if pull == 401:
        assert tags.headers["WWW-Authenticate"].startswith("Bearer ")


def test_a_deploy_token_has_a_generated_user_name(guarded: tuple[RunningRegistry, dict[str, dict[str, str]]]) -> None:
    running, _ = guarded
    user, secret = running.create_deploy_token("team/app")
    assert user.startswith("tinyreg+deploy-token-") and secret
    assert get(running, "/v2/team/app/tags/list", **basic_auth("ci", secret)).status_code == 401

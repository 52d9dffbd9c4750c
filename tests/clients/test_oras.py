"""oras-py against tinyreg: files with custom media types, OCI 1.1 artifacts, and referrers.

oras-py's `push()` cannot set `artifactType`, so such manifests are built here and sent
through its own request layer (`upload_blob`, `upload_manifest`, `do_request`).
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from .tools import OCI_INDEX, OCI_MANIFEST, sha256

pytestmark = pytest.mark.clients

EMPTY_CONFIG_TYPE = "application/vnd.oci.empty.v1+json"
EMPTY_JSON = b"{}"
SBOM_TYPE = "application/vnd.tinyreg.sbom.v1+json"
SIGNATURE_CONFIG_TYPE = "application/vnd.tinyreg.signature.config.v1+json"


def write(path: Path, content: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


def descriptor(media_type: str, content: bytes, **extra: Any) -> dict[str, Any]:
    return {"mediaType": media_type, "digest": sha256(content), "size": len(content), **extra}


def served_manifest(client: Any, name: str, reference: str) -> tuple[bytes, dict[str, Any]]:
    """The manifest bytes the registry serves, checked against the digest it claims."""
    response = client.do_request(
        f"http://{client.hostname}/v2/{name}/manifests/{reference}", "GET", headers={"Accept": f"{OCI_MANIFEST}, {OCI_INDEX}"}
    )
    assert response.status_code == 200, response.text
    assert response.headers["Docker-Content-Digest"] == sha256(response.content)
    return response.content, response.json()


def upload(client: Any, name: str, path: Path, media_type: str) -> dict[str, Any]:
    """Upload one blob through oras-py; its descriptor."""
    blob = descriptor(media_type, path.read_bytes())
    response = client.upload_blob(str(path), f"{client.hostname}/{name}", blob)
    assert response.status_code in (200, 201), response.text
    return blob


def put_manifest(client: Any, name: str, reference: str, manifest: dict[str, Any]) -> Any:
    """PUT a hand-built OCI manifest through oras-py's request layer; fail unless it is created."""
    response = client.upload_manifest(manifest, client.get_container(f"{client.hostname}/{name}:{reference}"))
    assert response.status_code == 201, response.text
    return response


def artifact(client: Any, name: str, work: Path, *, subject: dict[str, Any] | None = None) -> dict[str, Any]:
    """An OCI 1.1 artifact manifest: `artifactType`, the empty config, one SBOM layer."""
    config = upload(client, name, write(work / "empty.json", EMPTY_JSON), EMPTY_CONFIG_TYPE)
    config["data"] = base64.b64encode(EMPTY_JSON).decode()
    layer = upload(client, name, write(work / "sbom.json", b'{"packages": ["tinyreg"]}'), SBOM_TYPE)
    layer["annotations"] = {"org.opencontainers.image.title": "sbom.json"}
    manifest: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": SBOM_TYPE,
        "config": config,
        "layers": [layer],
        "annotations": {"org.example.kind": "sbom"},
    }
    if subject is not None:
        manifest["subject"] = subject
    return manifest


@pytest.mark.parametrize("chunked", [False, True], ids=["monolithic", "chunked"])
def test_push_and_pull_files_with_custom_media_types_and_config(oras_client: Any, tmp_path: Path, chunked: bool) -> None:
    notes = write(tmp_path / "in" / "notes.txt", b"release notes\n")
    model = write(tmp_path / "in" / "model.bin", bytes(range(256)) * 16)
    config = write(tmp_path / "in" / "config.json", b'{"tinyreg": "artifact"}')
    target = f"{oras_client.hostname}/group/project/files:v1"

    pushed = oras_client.push(
        target=target,
        disable_path_validation=True,
        quiet=True,
        files=[f"{notes}:application/vnd.tinyreg.notes", f"{model}:application/vnd.tinyreg.model"],
        manifest_config=f"{config}:application/vnd.tinyreg.config.v1+json",
        manifest_annotations={"org.example.purpose": "test"},
        do_chunked=chunked,
        chunk_size=1000,
    )
    pulled = oras_client.pull(target=target, outdir=str(tmp_path / "out"))

    assert pushed.status_code == 201
    raw, manifest = served_manifest(oras_client, "group/project/files", "v1")
    assert pushed.headers["Docker-Content-Digest"] == sha256(raw)
    assert manifest["config"] == descriptor("application/vnd.tinyreg.config.v1+json", config.read_bytes())
    assert [(layer["mediaType"], layer["annotations"]["org.opencontainers.image.title"]) for layer in manifest["layers"]] == [
        ("application/vnd.tinyreg.notes", "notes.txt"),
        ("application/vnd.tinyreg.model", "model.bin"),
    ]
    assert manifest["annotations"] == {"org.example.purpose": "test"}
    assert sorted(Path(path).name for path in pulled) == ["model.bin", "notes.txt"]
    assert (tmp_path / "out" / "notes.txt").read_bytes() == notes.read_bytes()
    assert (tmp_path / "out" / "model.bin").read_bytes() == model.read_bytes()
    config_blob = oras_client.get_blob(f"{oras_client.hostname}/group/project/files", manifest["config"]["digest"])
    assert config_blob.content == config.read_bytes()


def test_an_oci_1_1_artifact_keeps_its_artifact_type_and_empty_config(oras_client: Any, tmp_path: Path) -> None:
    manifest = artifact(oras_client, "group/project/sbom", tmp_path)

    response = put_manifest(oras_client, "group/project/sbom", "v1", manifest)

    raw, served = served_manifest(oras_client, "group/project/sbom", "v1")
    assert response.headers["Docker-Content-Digest"] == sha256(raw)
    assert served == manifest
    assert served["artifactType"] == SBOM_TYPE
    assert served["config"]["digest"] == sha256(EMPTY_JSON)
    empty = oras_client.get_blob(f"{oras_client.hostname}/group/project/sbom", sha256(EMPTY_JSON))
    assert (empty.status_code, empty.content) == (200, EMPTY_JSON)
    pulled = oras_client.pull(target=f"{oras_client.hostname}/group/project/sbom:v1", outdir=str(tmp_path / "out"))
    assert [Path(path).read_bytes() for path in pulled] == [b'{"packages": ["tinyreg"]}']


def referrers(client: Any, name: str, subject: str, query: str = "") -> Any:
    return client.do_request(f"http://{client.hostname}/v2/{name}/referrers/{subject}{query}", "GET")


def push_subject(client: Any, name: str, tmp_path: Path, content: bytes) -> dict[str, Any]:
    """Push a one-file artifact as `name:v1` with oras; the descriptor of its manifest as served."""
    image = write(tmp_path / "image" / "app.txt", content)
    client.push(target=f"{client.hostname}/{name}:v1", files=[str(image)], disable_path_validation=True, quiet=True)
    subject_bytes, _ = served_manifest(client, name, "v1")
    return descriptor(OCI_MANIFEST, subject_bytes)


def test_artifacts_with_a_subject_are_found_through_the_referrers_api(oras_client: Any, tmp_path: Path) -> None:
    import oras.oci

    name = "group/project/app"
    subject = push_subject(oras_client, name, tmp_path, b"the subject\n")
    signature = write(tmp_path / "sig" / "signature.txt", b"signed\n")
    signature_config = write(tmp_path / "sig" / "config.json", b'{"signer": "tests"}')
    signed = oras_client.push(
        target=f"{oras_client.hostname}/{name}:signature",
        files=[f"{signature}:application/vnd.tinyreg.signature"],
        manifest_config=f"{signature_config}:{SIGNATURE_CONFIG_TYPE}",
        subject=oras.oci.Subject(**subject),
        disable_path_validation=True,
        quiet=True,
    )
    sbom = put_manifest(oras_client, name, "sbom", artifact(oras_client, name, tmp_path / "sbom", subject=subject))

    assert signed.headers["OCI-Subject"] == subject["digest"] == sbom.headers["OCI-Subject"]
    listed = referrers(oras_client, name, subject["digest"])
    assert listed.status_code == 200
    assert listed.headers["Content-Type"] == OCI_INDEX
    index = listed.json()
    assert (index["schemaVersion"], index["mediaType"]) == (2, OCI_INDEX)
    found = {entry["digest"]: entry for entry in index["manifests"]}
    signature_raw, _ = served_manifest(oras_client, name, "signature")
    sbom_raw, _ = served_manifest(oras_client, name, "sbom")
    assert found == {
        sha256(signature_raw): descriptor(OCI_MANIFEST, signature_raw, artifactType=SIGNATURE_CONFIG_TYPE),
        sha256(sbom_raw): descriptor(OCI_MANIFEST, sbom_raw, artifactType=SBOM_TYPE, annotations={"org.example.kind": "sbom"}),
    }


def test_the_referrers_api_filters_by_artifact_type(oras_client: Any, tmp_path: Path) -> None:
    name = "group/project/app"
    subject = push_subject(oras_client, name, tmp_path, b"another subject\n")
    put_manifest(oras_client, name, "sbom", artifact(oras_client, name, tmp_path / "sbom", subject=subject))
    sbom_raw, _ = served_manifest(oras_client, name, "sbom")

    wanted = referrers(oras_client, name, subject["digest"], f"?artifactType={quote(SBOM_TYPE, safe='')}")
    other = referrers(oras_client, name, subject["digest"], "?artifactType=application/vnd.tinyreg.none")

    assert wanted.status_code == other.status_code == 200
    assert wanted.headers["OCI-Filters-Applied"] == "artifactType"
    assert [entry["digest"] for entry in wanted.json()["manifests"]] == [sha256(sbom_raw)]
    assert other.json()["manifests"] == []


def test_a_manifest_without_referrers_has_an_empty_referrers_index(oras_client: Any, tmp_path: Path) -> None:
    image = write(tmp_path / "alone.txt", b"nobody refers to me\n")
    oras_client.push(
        target=f"{oras_client.hostname}/group/alone:v1", files=[str(image)], disable_path_validation=True, quiet=True
    )
    raw, _ = served_manifest(oras_client, "group/alone", "v1")

    listed = referrers(oras_client, "group/alone", sha256(raw))

    assert listed.status_code == 200
    assert listed.headers["Content-Type"] == OCI_INDEX
    assert listed.json() == {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []}

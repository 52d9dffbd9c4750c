"""Media types and builders of manifests, images, artifacts and indexes, pushed over the `/v2/` API."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

import httpx

from tests.helpers import digest_of, make_blob, push_blob

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"
OCI_EMPTY_BLOB = b"{}"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
DOCKER_V1_SIGNED = "application/vnd.docker.distribution.manifest.v1+prettyjws"


def encode(document: dict[str, Any]) -> bytes:
    """JSON with deliberately non-canonical layout, so byte-exact storage is visible."""
    return json.dumps(document, indent=3).encode() + b"\n"


def descriptor(media_type: str, data: bytes, **fields: Any) -> dict[str, Any]:
    """The OCI descriptor of `data`."""
    return {"mediaType": media_type, "digest": digest_of(data), "size": len(data), **fields}


@dataclass(frozen=True)
class Pushed:
    """A manifest as pushed: its media type, exact bytes and digest."""

    media_type: str
    body: bytes
    digest: str

    def descriptor(self, **fields: Any) -> dict[str, Any]:
        """The descriptor that points to this manifest."""
        return {"mediaType": self.media_type, "digest": self.digest, "size": len(self.body), **fields}


def put_manifest(
    client: httpx.Client, repo: str, reference: str, document: dict[str, Any] | bytes, media_type: str
) -> httpx.Response:
    """PUT a manifest (a document, or exact bytes) with `media_type` as its Content-Type."""
    body = document if isinstance(document, bytes) else encode(document)
    return client.put(f"/v2/{repo}/manifests/{reference}", content=body, headers={"Content-Type": media_type})


def push_manifest(client: httpx.Client, repo: str, reference: str, document: dict[str, Any] | bytes, media_type: str) -> Pushed:
    """PUT a manifest that must be accepted (201 with its digest); return what was pushed."""
    body = document if isinstance(document, bytes) else encode(document)
    response = put_manifest(client, repo, reference, body, media_type)
    assert response.status_code == 201, response.text
    assert response.headers["Docker-Content-Digest"] == digest_of(body)
    return Pushed(media_type, body, digest_of(body))


def image_manifest(
    client: httpx.Client,
    repo: str,
    *,
    seed: str = "image",
    layers: int = 1,
    media_type: str = OCI_MANIFEST,
    **fields: Any,
) -> dict[str, Any]:
    """Push a config and `layers` layer blobs to `repo`; return an image manifest over them."""
    config_type, layer_type = (DOCKER_CONFIG, DOCKER_LAYER) if media_type == DOCKER_MANIFEST else (OCI_CONFIG, OCI_LAYER)
    config = json.dumps({"architecture": "amd64", "os": "linux", "seed": seed}).encode()
    push_blob(client, repo, config)
    blobs = [make_blob(f"{seed}/layer{i}", 200 + i) for i in range(layers)]
    for blob in blobs:
        push_blob(client, repo, blob)
    return {
        "schemaVersion": 2,
        "mediaType": media_type,
        "config": descriptor(config_type, config),
        "layers": [descriptor(layer_type, blob) for blob in blobs],
        **fields,
    }


def push_image(
    client: httpx.Client,
    repo: str,
    reference: str,
    *,
    seed: str = "image",
    media_type: str = OCI_MANIFEST,
    **fields: Any,
) -> Pushed:
    """Push an image (config, one layer, manifest) to `repo` under `reference`."""
    document = image_manifest(client, repo, seed=seed, media_type=media_type, **fields)
    return push_manifest(client, repo, reference, document, media_type)


def artifact_manifest(
    client: httpx.Client,
    repo: str,
    artifact_type: str,
    *,
    seed: str = "artifact",
    subject: Pushed | None = None,
    annotations: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Push the empty config and one blob to `repo`; return an artifact manifest over them."""
    push_blob(client, repo, OCI_EMPTY_BLOB)
    blob = make_blob(seed, 100)
    push_blob(client, repo, blob)
    document: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": artifact_type,
        "config": descriptor(OCI_EMPTY, OCI_EMPTY_BLOB),
        "layers": [descriptor("application/octet-stream", blob)],
    }
    if subject is not None:
        document["subject"] = subject.descriptor()
    if annotations is not None:
        document["annotations"] = annotations
    return document


def index_manifest(children: list[Pushed], media_type: str = OCI_INDEX, **fields: Any) -> dict[str, Any]:
    """An image index (or Docker manifest list) of already pushed `children`."""
    platform = {"architecture": "amd64", "os": "linux"}
    return {
        "schemaVersion": 2,
        "mediaType": media_type,
        "manifests": [child.descriptor(platform=platform) for child in children],
        **fields,
    }


def b64url(data: bytes) -> str:
    """Unpadded base64url, as JWS writes it."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jws_signature(format_length: int, format_tail: bytes, key_id: str = "ABCD:EFGH") -> dict[str, Any]:
    """One libtrust JWS signature object whose protected header says how to rebuild the payload."""
    protected = {"formatLength": format_length, "formatTail": b64url(format_tail), "time": "2026-01-01T00:00:00Z"}
    return {
        "header": {"jwk": {"crv": "P-256", "kid": key_id, "kty": "EC", "x": "xxxx", "y": "yyyy"}, "alg": "ES256"},
        "signature": b64url(f"signature by {key_id}".encode()),
        "protected": b64url(json.dumps(protected).encode()),
    }


def libtrust_sign(payload: bytes, key_ids: tuple[str, ...] = ("ABCD:EFGH",)) -> bytes:
    """Sign a JSON document the way libtrust's `PrettySignature` does: cut it after its last
    member, splice in the signatures member, close the brace. Its digest is over `payload`."""
    format_length = len(payload.rstrip(b" \t\n\r")[:-1].rstrip(b" \t\n\r"))
    signatures = [jws_signature(format_length, payload[format_length:], key_id) for key_id in key_ids]
    return payload[:format_length] + b',\n   "signatures": ' + json.dumps(signatures, indent=3).encode() + b"\n}"


def schema1_payload(repo: str, layers: list[str], **fields: Any) -> bytes:
    """An unsigned schema 1 manifest over `layers` (blob digests), laid out as Docker writes it."""
    document = {
        "schemaVersion": 1,
        "name": repo,
        "tag": "v1",
        "architecture": "amd64",
        "fsLayers": [{"blobSum": layer} for layer in layers],
        "history": [{"v1Compatibility": json.dumps({"id": "a" * 64, "os": "linux"})} for _ in layers],
        **fields,
    }
    return json.dumps(document, indent=3).encode()

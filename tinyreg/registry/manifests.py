"""Manifest parsing and validation (pure, no I/O).

`parse_manifest` turns the pushed bytes and Content-Type into a `ParsedManifest`: its media
type, the blobs and child manifests it references (which the caller must find in the
repository), its `subject` and `artifactType`. Bytes are never rewritten: the digest is over
exactly what was pushed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from tinyreg import b64
from tinyreg.registry.errors import RegistryError
from tinyreg.registry.names import Digest, parse_digest

MANIFEST_MAX_BYTES = 4 * 1024 * 1024

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_V1 = "application/vnd.docker.distribution.manifest.v1+json"
DOCKER_V1_SIGNED = "application/vnd.docker.distribution.manifest.v1+prettyjws"

IMAGE_TYPES = frozenset({OCI_MANIFEST, DOCKER_MANIFEST})
INDEX_TYPES = frozenset({OCI_INDEX, DOCKER_LIST})
SCHEMA1_TYPES = frozenset({DOCKER_V1, DOCKER_V1_SIGNED})
#: Content-Types that say nothing about the manifest, so the body's own `mediaType` decides.
GENERIC_TYPES = frozenset({"", "application/json", "application/octet-stream", "text/plain"})
#: Layers of these types live elsewhere (their `urls`); the registry need not hold them.
FOREIGN_LAYER_TYPES = frozenset(
    {
        "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
        "application/vnd.oci.image.layer.nondistributable.v1.tar",
        "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
        "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
    }
)


@dataclass(frozen=True, slots=True)
class ParsedManifest:
    """What the registry needs to know about a manifest to store and serve it."""

    media_type: str
    blobs: tuple[Digest, ...] = ()
    manifests: tuple[Digest, ...] = ()
    subject: Digest | None = None
    artifact_type: str | None = None
    annotations: dict[str, str] | None = field(default=None)


def _invalid(message: str) -> RegistryError:
    return RegistryError("MANIFEST_INVALID", message)


def _descriptor(value: Any, where: str) -> tuple[Digest, str]:
    """Check one descriptor; return its digest and media type."""
    if not isinstance(value, dict):
        raise _invalid(f"{where} is not a descriptor object")
    media_type = value.get("mediaType")
    if not isinstance(media_type, str) or not media_type:
        raise _invalid(f"{where}.mediaType must be a non-empty string")
    size = value.get("size")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise _invalid(f"{where}.size must be a non-negative integer")
    digest = value.get("digest")
    if not isinstance(digest, str):
        raise _invalid(f"{where}.digest must be a string")
    return parse_digest(digest, code="MANIFEST_INVALID"), media_type


def _descriptor_list(doc: dict[str, Any], key: str, *, required: bool) -> list[tuple[Digest, dict[str, Any]]]:
    value = doc.get(key)
    if value is None:
        if required:
            raise _invalid(f"{key} is required")
        return []
    if not isinstance(value, list):
        raise _invalid(f"{key} must be a list")
    found = []
    for i, item in enumerate(value):
        digest, _ = _descriptor(item, f"{key}[{i}]")
        found.append((digest, item))
    return found


def _string_or_none(doc: dict[str, Any], key: str) -> str | None:
    value = doc.get(key)
    if value is not None and not isinstance(value, str):
        raise _invalid(f"{key} must be a string")
    return value


def _annotations(doc: dict[str, Any]) -> dict[str, str] | None:
    value = doc.get("annotations")
    if value is None:
        return None
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise _invalid("annotations must be a map of strings")
    return value


def _effective_media_type(doc: dict[str, Any], content_type: str | None) -> str:
    declared = (content_type or "").split(";", 1)[0].strip().lower()
    body_type = doc.get("mediaType")
    if body_type is not None and not isinstance(body_type, str):
        raise _invalid("mediaType must be a string")
    if declared not in GENERIC_TYPES:
        if body_type and body_type != declared:
            raise _invalid(f"mediaType {body_type!r} does not match Content-Type {declared!r}")
        return declared
    if body_type:
        return body_type
    if doc.get("schemaVersion") == 1:
        return DOCKER_V1_SIGNED if "signatures" in doc else DOCKER_V1
    if "manifests" in doc:
        return OCI_INDEX
    if "config" in doc:
        return OCI_MANIFEST
    raise _invalid("cannot tell the manifest's media type: send a Content-Type or a mediaType field")


def _schema_version(doc: dict[str, Any], expected: int) -> None:
    if doc.get("schemaVersion") != expected:
        raise _invalid(f"schemaVersion must be {expected}")


def digested_bytes(body: bytes, media_type: str) -> bytes:
    """The bytes a manifest's digest is computed over.

    All of them, except for a signed schema 1 manifest: its digest is over the JWS payload,
    the document without its signatures, which the signature's protected header tells how
    to rebuild (`formatLength` bytes of the body, then `formatTail`).
    """
    if media_type != DOCKER_V1_SIGNED:
        return body
    try:
        signatures = json.loads(body)["signatures"]
        protected = json.loads(b64.decode(signatures[0]["protected"]))
        length, tail = protected["formatLength"], b64.decode(protected["formatTail"])
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        raise _invalid(f"signed schema 1 manifest without a usable JWS protected header: {exc}") from None
    if not isinstance(length, int) or not 0 < length <= len(body):
        raise _invalid("signed schema 1 manifest has an invalid formatLength")
    return body[:length] + tail


def parse_manifest(body: bytes, content_type: str | None) -> ParsedManifest:
    """Validate a pushed manifest and list what it references.

    Raises MANIFEST_INVALID (or SIZE_INVALID past 4 MiB) with a message that says what is wrong.
    """
    if len(body) > MANIFEST_MAX_BYTES:
        raise RegistryError("SIZE_INVALID", f"manifest is larger than {MANIFEST_MAX_BYTES} bytes", status=413)
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise _invalid(f"manifest is not valid JSON: {str(exc)[:200]}") from None
    if not isinstance(doc, dict):
        raise _invalid("manifest must be a JSON object")
    media_type = _effective_media_type(doc, content_type)

    if media_type in SCHEMA1_TYPES:
        _schema_version(doc, 1)
        layers = doc.get("fsLayers")
        if not isinstance(layers, list):
            raise _invalid("fsLayers must be a list")
        blobs = []
        for i, layer in enumerate(layers):
            if not isinstance(layer, dict) or not isinstance(layer.get("blobSum"), str):
                raise _invalid(f"fsLayers[{i}].blobSum must be a digest string")
            blobs.append(parse_digest(layer["blobSum"], code="MANIFEST_INVALID"))
        return ParsedManifest(media_type, blobs=tuple(dict.fromkeys(blobs)))

    if media_type in IMAGE_TYPES or media_type in INDEX_TYPES:
        _schema_version(doc, 2)
    subject = None
    if doc.get("subject") is not None:
        subject, _ = _descriptor(doc["subject"], "subject")
    artifact_type = _string_or_none(doc, "artifactType")
    annotations = _annotations(doc)

    blobs: list[Digest] = []
    if media_type in IMAGE_TYPES or (media_type not in INDEX_TYPES and "config" in doc):
        if "config" not in doc and media_type in IMAGE_TYPES:
            raise _invalid("config is required")
        config_digest, config_type = _descriptor(doc["config"], "config")
        blobs.append(config_digest)
        if artifact_type is None and media_type in IMAGE_TYPES:
            artifact_type = config_type
        required = media_type in IMAGE_TYPES
        for digest, layer in _descriptor_list(doc, "layers", required=required):
            if layer["mediaType"] in FOREIGN_LAYER_TYPES and layer.get("urls"):
                continue
            blobs.append(digest)
    for digest, _ in _descriptor_list(doc, "blobs", required=False):
        blobs.append(digest)
    children = [digest for digest, _ in _descriptor_list(doc, "manifests", required=media_type in INDEX_TYPES)]
    if media_type in IMAGE_TYPES and "manifests" in doc:
        raise _invalid("an image manifest has no manifests list")

    return ParsedManifest(
        media_type,
        blobs=tuple(dict.fromkeys(blobs)),
        manifests=tuple(dict.fromkeys(children)),
        subject=subject,
        artifact_type=artifact_type,
        annotations=annotations,
    )

"""Manifest parsing and validation (pure, no I/O).

`parse_manifest` turns the pushed bytes and Content-Type into a `ParsedManifest`: its media
type, the blobs and child manifests it references (which the caller must find in the
repository), its `subject` and `artifactType`. Bytes are never rewritten: the digest is over
exactly what was pushed.
"""

from __future__ import annotations

import json
import re
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
#: Content-Types that say nothing about the manifest, so the body's own `mediaType` decides
#: (a manifest is never served under one of these: it gets the type its body or shape says).
GENERIC_TYPES = frozenset({"", "application/json", "application/octet-stream", "text/plain"})
#: A manifest is served under its media type, so only JSON types of `application/` are taken:
#: the OCI and Docker ones, schema 1, and vendor `+json` types of artifacts. A type a browser
#: would render (text/html, image/svg+xml, anything XML) must never come back from a GET.
_MANIFEST_TYPE_RE = re.compile(r"application/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}", re.ASCII)
ACCEPTED_TYPES_HINT = (
    f"{OCI_MANIFEST}, {OCI_INDEX}, {DOCKER_MANIFEST}, {DOCKER_LIST}, {DOCKER_V1_SIGNED}, {DOCKER_V1}, "
    "or another application/...+json type"
)
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


def is_manifest_media_type(media_type: str) -> bool:
    """Whether a manifest may be stored and served under `media_type`."""
    lowered = media_type.lower()
    if lowered in SCHEMA1_TYPES:
        return True
    if _MANIFEST_TYPE_RE.fullmatch(lowered) is None:
        return False
    subtype = lowered.split("/", 1)[1]
    return subtype == "json" or subtype.endswith("+json")


def check_media_type(media_type: str, where: str) -> str:
    """`media_type` if a manifest may have it; MANIFEST_INVALID naming the accepted types otherwise."""
    if not is_manifest_media_type(media_type):
        raise _invalid(f"{where} {media_type[:100]!r} is not a manifest media type; use {ACCEPTED_TYPES_HINT}")
    return media_type


def _effective_media_type(doc: dict[str, Any], content_type: str | None) -> str:
    declared = (content_type or "").split(";", 1)[0].strip().lower()
    body_type = doc.get("mediaType")
    if body_type is not None and not isinstance(body_type, str):
        raise _invalid("mediaType must be a string")
    if declared not in GENERIC_TYPES:
        check_media_type(declared, "Content-Type")
        if body_type and body_type != declared:
            raise _invalid(f"mediaType {body_type!r} does not match Content-Type {declared!r}")
        return declared
    if body_type:
        return check_media_type(body_type, "mediaType")
    if doc.get("schemaVersion") == 1:
        return DOCKER_V1_SIGNED if "signatures" in doc else DOCKER_V1
    if "manifests" in doc:
        return OCI_INDEX
    if "config" in doc:
        return OCI_MANIFEST
    raise _invalid("cannot tell the manifest's media type: send a Content-Type or a mediaType field")


def shares_bytes(media_type: str) -> bool:
    """Whether a manifest's digest covers all its bytes, so one stored copy serves every repository.

    Not so for a signed schema 1 manifest: its digest leaves out the signatures, which differ
    each time it is signed, so each repository keeps the bytes it was pushed.
    """
    return media_type != DOCKER_V1_SIGNED


def _schema_version(doc: dict[str, Any], expected: int) -> None:
    if doc.get("schemaVersion") != expected:
        raise _invalid(f"schemaVersion must be {expected}")


def digested_bytes(body: bytes, media_type: str) -> bytes:
    """The bytes a manifest's digest is computed over.

    All of them, except for a signed schema 1 manifest: its digest is over the JWS payload,
    the document without its signatures (see `jws_payload`).
    """
    if media_type != DOCKER_V1_SIGNED:
        return body
    return jws_payload(body)


#: JSON whitespace (RFC 8259), which is all that may surround the signatures member.
_WS = "[ \t\n\r]*"
_SIGNATURES_MEMBER_RE = re.compile(f'{_WS},{_WS}"signatures"{_WS}:{_WS}')
_CLOSING_RE = re.compile(f"{_WS}}}{_WS}")


def jws_payload(body: bytes) -> bytes:
    """The JWS payload of a signed schema 1 manifest, checked to be exactly its body without
    the signatures: MANIFEST_INVALID otherwise.

    libtrust signs a document by cutting it after its last member (`formatLength`, trailing
    whitespace left out), appending `,"signatures": [...]` and a closing brace; `formatTail`
    is the cut-off end of the document (whitespace and its closing brace). Clients rebuild the
    payload as `body[:formatLength] + formatTail` and digest that, so nothing the header says
    is taken on trust: every signature must agree on it, and the bytes past `formatLength` must
    be the signatures member alone. Otherwise a body could carry members the digest does not
    cover, and pass off as the manifest of another image.
    """
    try:
        doc = json.loads(body)
        signatures = doc["signatures"]
        if not isinstance(signatures, list) or not signatures:
            raise ValueError("signatures must be a non-empty list")
        formats = {_signed_format(signature) for signature in signatures}
    except (ValueError, KeyError, IndexError, TypeError, RecursionError) as exc:
        raise _invalid(f"signed schema 1 manifest without a usable JWS protected header: {str(exc)[:200]}") from None
    if len(formats) != 1:
        raise _invalid("the signatures of a schema 1 manifest disagree on formatLength or formatTail")
    ((length, tail),) = formats
    if not 0 < length < len(body) or body[length - 1 : length] in (b" ", b"\t", b"\n", b"\r", b","):
        raise _invalid("signed schema 1 manifest has an invalid formatLength")
    if _CLOSING_RE.fullmatch(tail) is None:
        raise _invalid("the formatTail of a schema 1 manifest must be its closing brace")
    if not _only_signatures_follow(body[length:]):
        raise _invalid("a signed schema 1 manifest must hold nothing past formatLength but its signatures")
    payload = body[:length] + tail.encode()
    try:
        unsigned = json.loads(payload)
    except (ValueError, RecursionError):
        raise _invalid("the JWS payload of a schema 1 manifest is not a JSON document") from None
    # The byte checks above already make the body the payload plus its signatures; this says so
    # in terms of the documents, duplicate keys and all.
    if not isinstance(unsigned, dict) or "signatures" in unsigned or {**unsigned, "signatures": signatures} != doc:
        raise _invalid("the JWS payload of a schema 1 manifest is not its body without the signatures")
    return payload


def _signed_format(signature: Any) -> tuple[int, str]:
    """`formatLength` and the decoded `formatTail` of one signature's protected header."""
    protected = json.loads(b64.decode(signature["protected"]))
    length, tail = protected["formatLength"], b64.decode(protected["formatTail"]).decode()
    if not isinstance(length, int) or isinstance(length, bool):
        raise ValueError("formatLength must be an integer")
    return length, tail


def _only_signatures_follow(rest: bytes) -> bool:
    """Whether `rest` is `,"signatures": <array>` and the closing brace, with JSON whitespace only."""
    try:
        text = rest.decode()
    except UnicodeDecodeError:
        return False
    member = _SIGNATURES_MEMBER_RE.match(text)
    if member is None:
        return False
    try:
        value, end = json.JSONDecoder().raw_decode(text, member.end())
    except ValueError:
        return False
    return isinstance(value, list) and _CLOSING_RE.fullmatch(text, end) is not None


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
        blobs: list[Digest] = []
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

    blobs = []
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

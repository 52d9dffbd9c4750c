"""What `parse_manifest` accepts, what it reports as referenced, and how it rejects (OCI image and distribution specs)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from tinyreg.registry.errors import RegistryError
from tinyreg.registry.manifests import (
    DOCKER_LIST,
    DOCKER_MANIFEST,
    DOCKER_V1_SIGNED,
    MANIFEST_MAX_BYTES,
    OCI_EMPTY,
    OCI_INDEX,
    OCI_MANIFEST,
    ParsedManifest,
    parse_manifest,
)
from tinyreg.registry.names import Digest

from tests.helpers import raises_registry_error

OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
FOREIGN_LAYER = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
ARTIFACT_TYPE = "application/vnd.example.signature.v1+json"
UNKNOWN_TYPE = "application/vnd.example.thing.v1+json"

CONFIG, LAYER1, LAYER2, CHILD1, CHILD2, SUBJECT = (
    Digest.of(label.encode()) for label in ("config", "l1", "l2", "c1", "c2", "subject")
)
EMPTY = Digest.of(b"{}")


def descriptor(media_type: str, digest: Digest, size: Any = 10, **extra: Any) -> dict[str, Any]:
    """A content descriptor."""
    return {"mediaType": media_type, "digest": str(digest), "size": size, **extra}


def image(media_type: str = OCI_MANIFEST, **fields: Any) -> dict[str, Any]:
    """An image manifest with one config and two layers; `fields` override or add members."""
    config_type, layer_type = (DOCKER_CONFIG, DOCKER_LAYER) if media_type == DOCKER_MANIFEST else (OCI_CONFIG, OCI_LAYER)
    doc: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": media_type,
        "config": descriptor(config_type, CONFIG),
        "layers": [descriptor(layer_type, LAYER1), descriptor(layer_type, LAYER2)],
    }
    doc.update(fields)
    return {k: v for k, v in doc.items() if v is not None}


def index(media_type: str = OCI_INDEX, **fields: Any) -> dict[str, Any]:
    """An index of two image manifests; `fields` override or add members."""
    child_type = DOCKER_MANIFEST if media_type == DOCKER_LIST else OCI_MANIFEST
    doc: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": media_type,
        "manifests": [descriptor(child_type, CHILD1), descriptor(child_type, CHILD2)],
    }
    doc.update(fields)
    return {k: v for k, v in doc.items() if v is not None}


def encode(doc: Any) -> bytes:
    """The JSON bytes of `doc`."""
    return json.dumps(doc).encode()


SCHEMA1 = {
    "schemaVersion": 1,
    "name": "library/hello",
    "tag": "latest",
    "architecture": "amd64",
    "fsLayers": [{"blobSum": str(LAYER1)}, {"blobSum": str(LAYER2)}, {"blobSum": str(LAYER1)}],
    "history": [{"v1Compatibility": "{}"}] * 3,
    "signatures": [{"header": {"alg": "ES256"}, "signature": "c2ln", "protected": "cHJv"}],
}
ARTIFACT = image(
    artifactType=ARTIFACT_TYPE,
    config=descriptor(OCI_EMPTY, EMPTY, 2),
    layers=[descriptor("application/vnd.example.sig", LAYER1)],
    subject=descriptor(OCI_MANIFEST, SUBJECT),
    annotations={"org.example.signed": "yes"},
)


@pytest.mark.parametrize(
    ("doc", "content_type", "expected"),
    [
        pytest.param(
            image(),
            OCI_MANIFEST,
            ParsedManifest(OCI_MANIFEST, (CONFIG, LAYER1, LAYER2), artifact_type=OCI_CONFIG),
            id="oci-manifest",
        ),
        pytest.param(index(), OCI_INDEX, ParsedManifest(OCI_INDEX, manifests=(CHILD1, CHILD2)), id="oci-index"),
        pytest.param(
            image(DOCKER_MANIFEST),
            DOCKER_MANIFEST,
            ParsedManifest(DOCKER_MANIFEST, (CONFIG, LAYER1, LAYER2), artifact_type=DOCKER_CONFIG),
            id="docker-v2",
        ),
        pytest.param(index(DOCKER_LIST), DOCKER_LIST, ParsedManifest(DOCKER_LIST, manifests=(CHILD1, CHILD2)), id="docker-list"),
        pytest.param(SCHEMA1, DOCKER_V1_SIGNED, ParsedManifest(DOCKER_V1_SIGNED, (LAYER1, LAYER2)), id="schema1-signed"),
        pytest.param(SCHEMA1, None, ParsedManifest(DOCKER_V1_SIGNED, (LAYER1, LAYER2)), id="schema1-signed-by-shape"),
        pytest.param(
            ARTIFACT,
            OCI_MANIFEST,
            ParsedManifest(
                OCI_MANIFEST,
                (EMPTY, LAYER1),
                subject=SUBJECT,
                artifact_type=ARTIFACT_TYPE,
                annotations={"org.example.signed": "yes"},
            ),
            id="artifact-with-empty-config",
        ),
        pytest.param(
            {"mediaType": UNKNOWN_TYPE, "config": descriptor(OCI_EMPTY, EMPTY, 2), "layers": [descriptor("x/y", LAYER1)]},
            UNKNOWN_TYPE,
            ParsedManifest(UNKNOWN_TYPE, (EMPTY, LAYER1)),
            id="unknown-artifact-type-with-config",
        ),
        pytest.param(
            {"mediaType": UNKNOWN_TYPE, "blobs": [descriptor("x/y", LAYER2)], "subject": descriptor(OCI_MANIFEST, SUBJECT)},
            UNKNOWN_TYPE,
            ParsedManifest(UNKNOWN_TYPE, (LAYER2,), subject=SUBJECT),
            id="unknown-artifact-type-with-blobs",
        ),
        pytest.param(
            image(),
            OCI_MANIFEST + "; charset=utf-8",
            ParsedManifest(OCI_MANIFEST, (CONFIG, LAYER1, LAYER2), artifact_type=OCI_CONFIG),
            id="content-type-parameters",
        ),
        pytest.param(
            image(),
            "application/json",
            ParsedManifest(OCI_MANIFEST, (CONFIG, LAYER1, LAYER2), artifact_type=OCI_CONFIG),
            id="generic-content-type",
        ),
        pytest.param(
            image(mediaType=None),
            None,
            ParsedManifest(OCI_MANIFEST, (CONFIG, LAYER1, LAYER2), artifact_type=OCI_CONFIG),
            id="no-media-type-manifest",
        ),
        pytest.param(
            index(mediaType=None), None, ParsedManifest(OCI_INDEX, manifests=(CHILD1, CHILD2)), id="no-media-type-index"
        ),
        pytest.param(
            image(mediaType=None),
            OCI_MANIFEST,
            ParsedManifest(OCI_MANIFEST, (CONFIG, LAYER1, LAYER2), artifact_type=OCI_CONFIG),
            id="media-type-from-header-only",
        ),
        pytest.param(
            image(layers=[descriptor(OCI_LAYER, LAYER1), descriptor(OCI_LAYER, LAYER1)]),
            OCI_MANIFEST,
            ParsedManifest(OCI_MANIFEST, (CONFIG, LAYER1), artifact_type=OCI_CONFIG),
            id="repeated-layer-listed-once",
        ),
        pytest.param(
            image(
                DOCKER_MANIFEST,
                layers=[descriptor(FOREIGN_LAYER, LAYER1, urls=["https://example.com/l1"]), descriptor(DOCKER_LAYER, LAYER2)],
            ),
            DOCKER_MANIFEST,
            ParsedManifest(DOCKER_MANIFEST, (CONFIG, LAYER2), artifact_type=DOCKER_CONFIG),
            id="foreign-layer-with-urls-not-required",
        ),
        pytest.param(
            image(layers=[]), OCI_MANIFEST, ParsedManifest(OCI_MANIFEST, (CONFIG,), artifact_type=OCI_CONFIG), id="no-layers"
        ),
        pytest.param(
            index(subject=descriptor(OCI_MANIFEST, SUBJECT), artifactType=ARTIFACT_TYPE),
            OCI_INDEX,
            ParsedManifest(OCI_INDEX, manifests=(CHILD1, CHILD2), subject=SUBJECT, artifact_type=ARTIFACT_TYPE),
            id="index-with-subject",
        ),
    ],
)
def test_valid_manifests_are_parsed(doc: dict[str, Any], content_type: str | None, expected: ParsedManifest) -> None:
    assert parse_manifest(encode(doc), content_type) == expected


def _without(doc: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if k != key}


def _manifest_of_size(size: int) -> bytes:
    """A valid OCI image manifest padded with an annotation to exactly `size` bytes."""
    padding = "x" * (size - len(encode(image(annotations={"pad": ""}))))
    return encode(image(annotations={"pad": padding}))


@pytest.mark.parametrize(
    ("body", "content_type", "code", "status"),
    [
        pytest.param(b"not json", OCI_MANIFEST, "MANIFEST_INVALID", 400, id="not-json"),
        pytest.param(b"", OCI_MANIFEST, "MANIFEST_INVALID", 400, id="empty-body"),
        pytest.param(b"\xff\xfe{}", OCI_MANIFEST, "MANIFEST_INVALID", 400, id="not-utf8"),
        pytest.param(encode([image()]), OCI_MANIFEST, "MANIFEST_INVALID", 400, id="json-array"),
        pytest.param(encode("manifest"), OCI_MANIFEST, "MANIFEST_INVALID", 400, id="json-string"),
        pytest.param(b"[" * 5_000 + b"]" * 5_000, OCI_MANIFEST, "MANIFEST_INVALID", 400, id="deeply-nested-json"),
        pytest.param(encode(image(schemaVersion=1)), OCI_MANIFEST, "MANIFEST_INVALID", 400, id="schema-version-1"),
        pytest.param(encode(image(schemaVersion=3)), OCI_MANIFEST, "MANIFEST_INVALID", 400, id="schema-version-3"),
        pytest.param(encode(image(schemaVersion="2")), OCI_MANIFEST, "MANIFEST_INVALID", 400, id="schema-version-string"),
        pytest.param(
            encode(_without(image(), "schemaVersion")), OCI_MANIFEST, "MANIFEST_INVALID", 400, id="schema-version-missing"
        ),
        pytest.param(encode(index(schemaVersion=1)), OCI_INDEX, "MANIFEST_INVALID", 400, id="index-schema-version-1"),
        pytest.param(encode(_without(image(), "config")), OCI_MANIFEST, "MANIFEST_INVALID", 400, id="missing-config"),
        pytest.param(
            encode(_without(image(DOCKER_MANIFEST), "config")),
            DOCKER_MANIFEST,
            "MANIFEST_INVALID",
            400,
            id="docker-missing-config",
        ),
        pytest.param(encode(_without(image(), "layers")), OCI_MANIFEST, "MANIFEST_INVALID", 400, id="missing-layers"),
        pytest.param(encode(_without(index(), "manifests")), OCI_INDEX, "MANIFEST_INVALID", 400, id="index-missing-manifests"),
        pytest.param(
            encode(image(config=descriptor(OCI_CONFIG, CONFIG, -1))), OCI_MANIFEST, "MANIFEST_INVALID", 400, id="size-negative"
        ),
        pytest.param(
            encode(image(config=descriptor(OCI_CONFIG, CONFIG, True))), OCI_MANIFEST, "MANIFEST_INVALID", 400, id="size-bool"
        ),
        pytest.param(
            encode(image(config=descriptor(OCI_CONFIG, CONFIG, "10"))), OCI_MANIFEST, "MANIFEST_INVALID", 400, id="size-string"
        ),
        pytest.param(
            encode(image(config=descriptor(OCI_CONFIG, CONFIG, 1.5))), OCI_MANIFEST, "MANIFEST_INVALID", 400, id="size-fraction"
        ),
        pytest.param(
            encode(image(layers=[descriptor(OCI_LAYER, LAYER1, None)])),
            OCI_MANIFEST,
            "MANIFEST_INVALID",
            400,
            id="layer-size-missing",
        ),
        pytest.param(
            encode(image(config={"mediaType": OCI_CONFIG, "digest": "sha256:abc", "size": 1})),
            OCI_MANIFEST,
            "MANIFEST_INVALID",
            400,
            id="bad-digest",
        ),
        pytest.param(
            encode(image(config={"mediaType": OCI_CONFIG, "digest": "md5:" + "0" * 32, "size": 1})),
            OCI_MANIFEST,
            "MANIFEST_INVALID",
            400,
            id="unknown-digest-algorithm",
        ),
        pytest.param(
            encode(image(config={"mediaType": OCI_CONFIG, "size": 1})), OCI_MANIFEST, "MANIFEST_INVALID", 400, id="digest-missing"
        ),
        pytest.param(
            encode(image(config={"digest": str(CONFIG), "size": 1})),
            OCI_MANIFEST,
            "MANIFEST_INVALID",
            400,
            id="descriptor-media-type-missing",
        ),
        pytest.param(encode(image(config=str(CONFIG))), OCI_MANIFEST, "MANIFEST_INVALID", 400, id="descriptor-not-object"),
        pytest.param(
            encode(image(layers={"0": descriptor(OCI_LAYER, LAYER1)})),
            OCI_MANIFEST,
            "MANIFEST_INVALID",
            400,
            id="layers-not-list",
        ),
        pytest.param(
            encode(index(manifests=[descriptor(OCI_MANIFEST, CHILD1, -5)])),
            OCI_INDEX,
            "MANIFEST_INVALID",
            400,
            id="child-size-negative",
        ),
        pytest.param(
            encode(image(subject={"mediaType": OCI_MANIFEST, "digest": "nope", "size": 1})),
            OCI_MANIFEST,
            "MANIFEST_INVALID",
            400,
            id="bad-subject",
        ),
        pytest.param(
            encode(image(manifests=index()["manifests"])), OCI_MANIFEST, "MANIFEST_INVALID", 400, id="image-with-manifests-list"
        ),
        pytest.param(encode(image(annotations={"a": 1})), OCI_MANIFEST, "MANIFEST_INVALID", 400, id="annotation-not-string"),
        pytest.param(encode(image(artifactType=7)), OCI_MANIFEST, "MANIFEST_INVALID", 400, id="artifact-type-not-string"),
        pytest.param(encode(image(mediaType=5)), None, "MANIFEST_INVALID", 400, id="media-type-not-string"),
        pytest.param(encode(image()), OCI_INDEX, "MANIFEST_INVALID", 400, id="media-type-vs-content-type"),
        pytest.param(encode(image(DOCKER_MANIFEST)), OCI_MANIFEST, "MANIFEST_INVALID", 400, id="docker-body-oci-header"),
        pytest.param(encode({"foo": "bar"}), None, "MANIFEST_INVALID", 400, id="no-way-to-tell-type"),
        pytest.param(
            encode(_without(SCHEMA1, "fsLayers")), DOCKER_V1_SIGNED, "MANIFEST_INVALID", 400, id="schema1-without-fslayers"
        ),
        pytest.param(
            encode({**SCHEMA1, "fsLayers": [{"blobSum": "sha256:zz"}]}),
            DOCKER_V1_SIGNED,
            "MANIFEST_INVALID",
            400,
            id="schema1-bad-blobsum",
        ),
        pytest.param(_manifest_of_size(MANIFEST_MAX_BYTES + 1), OCI_MANIFEST, "SIZE_INVALID", 413, id="larger-than-4mib"),
    ],
)
def test_invalid_manifests_are_rejected_with_the_spec_code(body: bytes, content_type: str | None, code: str, status: int) -> None:
    with raises_registry_error(code, status):
        parse_manifest(body, content_type)


def test_a_manifest_of_exactly_4_mib_is_not_too_large() -> None:
    body = _manifest_of_size(MANIFEST_MAX_BYTES)
    assert len(body) == MANIFEST_MAX_BYTES
    assert parse_manifest(body, OCI_MANIFEST).blobs == (CONFIG, LAYER1, LAYER2)


MANIFEST_KEYS = [
    "schemaVersion",
    "mediaType",
    "config",
    "layers",
    "manifests",
    "blobs",
    "subject",
    "artifactType",
    "annotations",
    "fsLayers",
    "signatures",
    "digest",
    "size",
    "blobSum",
    "urls",
]
json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-3, 3)
    | st.floats(allow_nan=False)
    | st.text(max_size=8)
    | st.sampled_from([OCI_MANIFEST, OCI_INDEX, DOCKER_V1_SIGNED, str(CONFIG), "sha256:", 2, 1])
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(MANIFEST_KEYS) | st.text(max_size=4), inner, max_size=6)
    ),
    max_leaves=30,
)
content_types = st.sampled_from(
    [
        None,
        "",
        "application/json",
        OCI_MANIFEST,
        OCI_INDEX,
        DOCKER_MANIFEST,
        DOCKER_LIST,
        DOCKER_V1_SIGNED,
        UNKNOWN_TYPE,
        "Text/Plain; x=y",
        "text/html",
        "image/svg+xml",
    ]
)


def _parse_or_registry_error(body: bytes, content_type: str | None) -> None:
    try:
        result = parse_manifest(body, content_type)
    except RegistryError as error:
        assert error.code in ("MANIFEST_INVALID", "SIZE_INVALID")
    else:
        assert isinstance(result, ParsedManifest)


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(json_values, content_types)
def test_any_json_value_is_parsed_or_rejected_with_a_registry_error(value: Any, content_type: str | None) -> None:
    _parse_or_registry_error(encode(value), content_type)


@settings(max_examples=200)
@given(st.binary(max_size=200), content_types)
@example(b"[" * 5_000, None)
@example(b'{"a":' * 5_000, None)
@example(b"\xef\xbb\xbf{}", None)
def test_any_bytes_are_parsed_or_rejected_with_a_registry_error(body: bytes, content_type: str | None) -> None:
    _parse_or_registry_error(body, content_type)


digests = st.binary(max_size=16).map(Digest.of)
media_types = st.sampled_from([OCI_LAYER, OCI_CONFIG, OCI_EMPTY, "application/vnd.example+x"])
descriptors = st.builds(lambda m, d, s: descriptor(m, d, s), media_types, digests, st.integers(0, 2**40))


@settings(max_examples=200)
@given(descriptors, st.lists(descriptors, max_size=6), st.none() | descriptors, st.booleans())
def test_every_descriptor_of_a_valid_oci_manifest_is_a_referenced_blob(
    config: dict[str, Any], layers: list[dict[str, Any]], subject: dict[str, Any] | None, declare_type: bool
) -> None:
    doc = image(config=config, layers=layers, subject=subject)
    parsed = parse_manifest(encode(doc), OCI_MANIFEST if declare_type else None)
    expected = [Digest(*d["digest"].split(":")) for d in [config, *layers]]
    assert parsed.media_type == OCI_MANIFEST
    assert parsed.blobs == tuple(dict.fromkeys(expected))
    assert parsed.manifests == ()
    assert parsed.subject == (None if subject is None else Digest(*subject["digest"].split(":")))

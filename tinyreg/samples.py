"""Small generated images and artifacts, built in memory for tests (no external tool).

An image is real: its layers are gzip-compressed tar files, its config lists their diff ids,
so clients such as skopeo and podman accept what is built here.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from dataclasses import dataclass
from typing import Any

from tinyreg.registry.manifests import OCI_EMPTY, OCI_INDEX, OCI_MANIFEST

LAYER_TYPE = "application/vnd.oci.image.layer.v1.tar+gzip"
CONFIG_TYPE = "application/vnd.oci.image.config.v1+json"
EMPTY_CONFIG = b"{}"


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def descriptor(media_type: str, data: bytes, **extra: Any) -> dict[str, Any]:
    """An OCI descriptor of `data`."""
    return {"mediaType": media_type, "digest": sha256(data), "size": len(data), **extra}


@dataclass(frozen=True)
class Sample:
    """A manifest and the blobs it references, ready to push."""

    manifest: bytes
    media_type: str
    blobs: tuple[bytes, ...]

    @property
    def digest(self) -> str:
        return sha256(self.manifest)


def _layer(name: str, content: bytes) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo(name)
        info.size = len(content)
        info.mode = 0o644
        tar.addfile(info, io.BytesIO(content))
    return raw.getvalue()


def image(*, layers: int = 1, architecture: str = "amd64", os: str = "linux", seed: str = "") -> Sample:
    """An OCI image with `layers` layers, each adding one small file."""
    tars = [_layer(f"layer{i}.txt", f"tinyreg sample {seed} layer {i}\n".encode()) for i in range(layers)]
    compressed = [gzip.compress(t, mtime=0) for t in tars]
    config = json.dumps(
        {
            "architecture": architecture,
            "os": os,
            "config": {},
            "rootfs": {"type": "layers", "diff_ids": [sha256(t) for t in tars]},
        },
        sort_keys=True,
    ).encode()
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": descriptor(CONFIG_TYPE, config),
            "layers": [descriptor(LAYER_TYPE, c) for c in compressed],
        },
        indent=2,
    ).encode()
    return Sample(manifest, OCI_MANIFEST, (config, *compressed))


def artifact(
    files: dict[str, bytes],
    *,
    artifact_type: str,
    media_type: str = "application/octet-stream",
    subject: dict[str, Any] | None = None,
    annotations: dict[str, str] | None = None,
) -> Sample:
    """An OCI 1.1 artifact: the empty config, one layer per file, an optional `subject` descriptor."""
    layers = [descriptor(media_type, data, annotations={"org.opencontainers.image.title": name}) for name, data in files.items()]
    document: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": artifact_type,
        "config": descriptor(OCI_EMPTY, EMPTY_CONFIG),
        "layers": layers,
    }
    if subject is not None:
        document["subject"] = subject
    if annotations:
        document["annotations"] = annotations
    return Sample(json.dumps(document, indent=2).encode(), OCI_MANIFEST, (EMPTY_CONFIG, *files.values()))


def index(children: list[Sample], platforms: list[dict[str, str]]) -> Sample:
    """An OCI image index over `children` (push them first, by digest), one platform each."""
    document = {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [
            descriptor(child.media_type, child.manifest, platform=p) for child, p in zip(children, platforms, strict=True)
        ],
    }
    return Sample(json.dumps(document, indent=2).encode(), OCI_INDEX, ())

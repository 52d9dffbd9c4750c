"""`/v2/<name>/manifests/<reference>`: HEAD, GET, PUT and DELETE by tag or digest."""

from __future__ import annotations

from tinyreg.http.asgi import Request, Response
from tinyreg.http.event_origin import origin_of
from tinyreg.registry.core import Registry
from tinyreg.registry.manifests import MANIFEST_MAX_BYTES, is_manifest_media_type
from tinyreg.registry.offload import call_meta
from tinyreg.registry.repository import StoredManifest


async def get_manifest(registry: Registry, request: Request, name: str, reference: str) -> Response:
    # The alias of a moved repository's old name is read with the manifest (see `FOLLOW_ALIASES`).
    repo, manifest = await registry.manifests.serve(name, reference)
    if request.method == "GET" and registry.notifier.notes_pulls:
        registry.manifests.pulled(repo, reference, manifest, origin_of(request))
    return manifest_response(manifest)


def manifest_response(manifest: StoredManifest) -> Response:
    """A stored manifest as served to GET and HEAD: its type, digest and exact bytes."""
    # Pushes are refused other types now, but a manifest stored before that may have any.
    media_type = manifest.media_type if is_manifest_media_type(manifest.media_type) else "application/octet-stream"
    headers = {
        "Content-Type": media_type,
        "Docker-Content-Digest": manifest.digest,
        "Content-Length": str(len(manifest.data)),
        "ETag": f'"{manifest.digest}"',
    }
    return Response(200, headers, manifest.data)


async def put_manifest(registry: Registry, request: Request, name: str, reference: str) -> Response:
    data = await request.read(MANIFEST_MAX_BYTES)
    put = registry.manifests.put
    result = await call_meta(registry.meta, put, name, reference, data, request.header("content-type"), origin_of(request))
    headers = {
        "Location": f"/v2/{name}/manifests/{result.digest}",
        "Docker-Content-Digest": result.digest,
        "Content-Length": "0",
    }
    if result.subject:
        headers["OCI-Subject"] = result.subject
    return Response(201, headers)


async def delete_manifest(registry: Registry, request: Request, name: str, reference: str) -> Response:
    await call_meta(registry.meta, registry.manifests.delete, name, reference, origin_of(request))
    return Response(202)


#: The methods whose handler reads a moved repository's alias itself, with the manifest (one call
#: of the metadata store, not two): the dispatcher leaves it to them.
FOLLOW_ALIASES = frozenset({"GET", "HEAD"})

HANDLERS = {"GET": get_manifest, "HEAD": get_manifest, "PUT": put_manifest, "DELETE": delete_manifest}

"""`/v2/<name>/blobs/uploads/[<id>]`: start (also monolithic and mount), PATCH, PUT, status, cancel."""

from __future__ import annotations

import trio

from tinyreg.http.asgi import Request, Response
from tinyreg.http.event_origin import origin_of
from tinyreg.registry.core import Registry
from tinyreg.registry.errors import RegistryError
from tinyreg.registry.names import Digest, is_valid_name, parse_digest
from tinyreg.registry.offload import call_meta, call_stores
from tinyreg.registry.ranges import upload_range
from tinyreg.registry.uploads import Upload
from tinyreg.registry.whole_bodies import takes_whole


def _progress(name: str, upload: Upload, status: int) -> Response:
    return Response(
        status,
        {
            "Location": f"/v2/{name}/blobs/uploads/{upload.id}",
            "Range": upload_range(upload.size),
            "Docker-Upload-UUID": upload.id,
            "Content-Length": "0",
        },
    )


def _created(name: str, digest: Digest) -> Response:
    return Response(
        201,
        {
            "Location": f"/v2/{name}/blobs/{digest}",
            "Docker-Content-Digest": str(digest),
            "Content-Length": "0",
        },
    )


def _required_digest(request: Request) -> Digest:
    value = request.query("digest")
    if value is None:
        raise RegistryError("DIGEST_INVALID", "the digest query parameter is required to finish an upload")
    return parse_digest(value)


async def start_upload(registry: Registry, request: Request, name: str, reference: str) -> Response:
    mount, source = request.query("mount"), request.query("from")
    if (
        mount is not None
        and source is not None
        and is_valid_name(source)
        and await call_meta(registry.meta, request.can_read, source)
    ):
        digest = parse_digest(mount)
        if (
            await call_stores(registry.meta, registry.store, registry.blobs.mount, name, digest, source, origin_of(request))
            is not None
        ):
            return _created(name, digest)
    if request.query("digest") is None:
        return _progress(name, await call_stores(registry.meta, registry.store, registry.uploads.start, name), 202)
    digest = _required_digest(request)  # checked before a session exists to be left behind
    length = request.content_length
    if length is not None and takes_whole(registry.store.remote, length, None):
        await registry.uploads.put_whole(name, digest, request.stream(), length, origin_of(request))
        return _created(name, digest)
    upload = await call_stores(registry.meta, registry.store, registry.uploads.start, name)
    try:
        await registry.uploads.finish(
            name, upload.id, digest, request.stream(), content_length=request.content_length, origin=origin_of(request)
        )
    except BaseException:
        with trio.CancelScope(shield=True):  # a failed one-shot upload leaves no session behind
            await call_stores(registry.meta, registry.store, registry.uploads.discard, upload.id)
        raise
    return _created(name, digest)


async def upload_status(registry: Registry, request: Request, name: str, reference: str) -> Response:
    return _progress(name, await call_stores(registry.meta, registry.store, registry.uploads.status, name, reference), 204)


async def patch_upload(registry: Registry, request: Request, name: str, reference: str) -> Response:
    upload = await registry.uploads.append(
        name,
        reference,
        request.stream(),
        content_range=request.header("content-range"),
        content_length=request.content_length,
    )
    return _progress(name, upload, 202)


async def finish_upload(registry: Registry, request: Request, name: str, reference: str) -> Response:
    digest = _required_digest(request)
    length = request.content_length
    has_body = (length is not None and length > 0) or request.header("transfer-encoding") is not None
    await registry.uploads.finish(
        name,
        reference,
        digest,
        request.stream() if has_body else None,
        content_range=request.header("content-range"),
        content_length=length,
        origin=origin_of(request),
    )
    return _created(name, digest)


async def cancel_upload(registry: Registry, request: Request, name: str, reference: str) -> Response:
    await registry.uploads.cancel(name, reference)
    return Response(204)


START_HANDLERS = {"POST": start_upload}
SESSION_HANDLERS = {"GET": upload_status, "PATCH": patch_upload, "PUT": finish_upload, "DELETE": cancel_upload}

"""`/v2/<name>/blobs/<digest>`: HEAD, GET (with Range) and DELETE.

When the blob store offers URLs of its own (S3: presigned GETs) and redirects are on, a GET
answers 307 to it, so the bytes go from the store to the client without passing through the
registry (clients send their Range there again). HEAD is answered here. With a remote store
every store call runs in a worker thread.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import BinaryIO

import trio

from tinyreg.http.asgi import Request, Response
from tinyreg.http.event_origin import origin_of
from tinyreg.http.read_ahead import chunks_ahead
from tinyreg.registry.blobs import BlobRef
from tinyreg.registry.core import Registry
from tinyreg.registry.names import Digest, parse_digest
from tinyreg.registry.offload import call_meta, call_store
from tinyreg.registry.ranges import parse_range
from tinyreg.storage.blobs import READ_CHUNK

INLINE_READ = 64 * 1024  # reads this small are cheaper than a hop to a worker thread


async def get_blob(registry: Registry, request: Request, name: str, reference: str) -> Response:
    digest = parse_digest(reference)
    # GET and HEAD (`FOLLOW_ALIASES`): the alias of a moved repository's old name comes with the blob.
    name, blob = await registry.blobs.serve(name, digest)
    if request.method == "GET" and registry.blob_redirects:
        url = registry.blobs.url(blob)  # signed locally: no request to the store
        if url is not None:
            _note_pull(registry, request, name, blob)  # the client fetches the bytes from the store
            return Response(307, {"Location": url, "Docker-Content-Digest": str(digest), "Cache-Control": "no-store"})
    headers = {
        "Content-Type": "application/octet-stream",
        "Docker-Content-Digest": str(digest),
        "Accept-Ranges": "bytes",
        "ETag": f'"{digest}"',
        "Cache-Control": "max-age=31536000",
    }
    start, end, status = 0, blob.size - 1, 200
    wanted = request.header("range")
    if wanted is not None:
        chosen = parse_range(wanted, blob.size)
        if chosen is not None:
            start, end = chosen
            status = 206
            headers["Content-Range"] = f"bytes {start}-{end}/{blob.size}"
    length = end - start + 1
    headers["Content-Length"] = str(length)
    if request.method == "HEAD":
        await call_store(registry.store, registry.blobs.check_stored, blob)
        return Response(status, headers)
    if blob.data is not None:
        _note_pull(registry, request, name, blob)
        return Response(status, headers, blob.data[start : end + 1])
    file = await call_store(registry.store, registry.blobs.open, blob)
    _note_pull(registry, request, name, blob)  # once its bytes are there to be served
    if length <= INLINE_READ:
        with file:
            file.seek(start)
            return Response(status, headers, await call_store(registry.store, file.read, length))
    if registry.store.remote:
        return Response(status, headers, stream=chunks_ahead(file, digest, start, length, READ_CHUNK))
    return Response(status, headers, stream=_file_chunks(file, digest, start, length))


def _note_pull(registry: Registry, request: Request, name: str, blob: BlobRef) -> None:
    if registry.notifier.notes_pulls:  # else a pull costs nothing more
        registry.blobs.pulled(name, blob, origin_of(request))


async def _file_chunks(file: BinaryIO, digest: Digest, start: int, length: int) -> AsyncGenerator[bytes, None]:
    try:
        file.seek(start)
        remaining = length
        while remaining > 0:
            chunk = await trio.to_thread.run_sync(file.read, min(READ_CHUNK, remaining))
            if not chunk:
                raise OSError(f"blob {digest} is shorter than its recorded size")
            remaining -= len(chunk)
            yield chunk
    finally:
        file.close()


async def delete_blob(registry: Registry, request: Request, name: str, reference: str) -> Response:
    await call_meta(registry.meta, registry.blobs.delete, name, parse_digest(reference))
    return Response(202)


#: The methods whose handler reads a moved repository's alias itself, with the blob (one call of
#: the metadata store, not two): the dispatcher leaves it to them.
FOLLOW_ALIASES = frozenset({"GET", "HEAD"})

HANDLERS = {"GET": get_blob, "HEAD": get_blob, "DELETE": delete_blob}

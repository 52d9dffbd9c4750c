"""`/v2/<name>/tags/list`, `/v2/_catalog` and `/v2/<name>/referrers/<digest>`."""

from __future__ import annotations

from urllib.parse import quote

from tinyreg.http.asgi import Request, Response, json_response
from tinyreg.registry.core import Registry
from tinyreg.registry.listings import Page, parse_page_size
from tinyreg.registry.manifests import OCI_INDEX
from tinyreg.registry.names import parse_digest
from tinyreg.registry.offload import call_meta


def _next_link(path: str, page: Page, n: int | None) -> dict[str, str]:
    if not page.more or not page.items:
        return {}
    size = n if n is not None else len(page.items)
    return {"Link": f'<{path}?n={size}&last={quote(page.items[-1])}>; rel="next"'}


async def list_tags(registry: Registry, request: Request, name: str, reference: str) -> Response:
    n = parse_page_size(request.query("n"))
    page = await call_meta(registry.meta, registry.listings.tags, name, n, request.query("last"))
    return json_response(200, {"name": name, "tags": page.items}, _next_link(request.path, page, n))


async def catalog(registry: Registry, request: Request, name: str, reference: str) -> Response:
    n = parse_page_size(request.query("n"))
    page = await call_meta(registry.meta, registry.listings.catalog, n, request.query("last"), request.can_read)
    return json_response(200, {"repositories": page.items}, _next_link(request.path, page, n))


async def referrers(registry: Registry, request: Request, name: str, reference: str) -> Response:
    subject = parse_digest(reference)
    artifact_type = request.query("artifactType") or None
    index = await call_meta(registry.meta, registry.listings.referrers, name, str(subject), artifact_type)
    headers = {"OCI-Filters-Applied": "artifactType"} if artifact_type else {}
    return json_response(200, index, headers, OCI_INDEX)


TAG_HANDLERS = {"GET": list_tags, "HEAD": list_tags}
CATALOG_HANDLERS = {"GET": catalog, "HEAD": catalog}
REFERRER_HANDLERS = {"GET": referrers, "HEAD": referrers}

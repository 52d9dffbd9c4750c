"""Classify a `/v2/...` path into a resource, a repository name and a reference (pure).

Repository names may have many components, and one of them may even be called `blobs` or
`manifests`; the reference after the last slash never contains a slash, so the path is read
from its end.
"""

from __future__ import annotations

from typing import NamedTuple


class Route(NamedTuple):
    resource: str  # base, catalog, tags, manifests, blobs, uploads, referrers
    name: str = ""
    reference: str = ""


def classify(path: str) -> Route | None:
    """The route of a `/v2/` path, or None when it names no endpoint (or an empty name)."""
    route = _classify(path)
    if route is not None and route.resource not in ("base", "catalog") and not route.name:
        return None
    return route


def _classify(path: str) -> Route | None:
    if path in ("/v2/", "/v2"):
        return Route("base")
    if not path.startswith("/v2/"):
        return None
    rest = path[4:]
    if rest in ("_catalog", "_catalog/"):
        return Route("catalog")
    head, _, reference = rest.rpartition("/")
    if head.endswith("/blobs/uploads") and reference == "":
        return Route("uploads", head[: -len("/blobs/uploads")])
    if head.endswith("/blobs") and reference == "uploads":
        return Route("uploads", head[: -len("/blobs")])
    for suffix, resource in (
        ("/manifests", "manifests"),
        ("/blobs/uploads", "uploads"),
        ("/blobs", "blobs"),
        ("/referrers", "referrers"),
    ):
        if head.endswith(suffix) and reference:
            return Route(resource, head[: -len(suffix)], reference)
    if head.endswith("/tags") and reference == "list":
        return Route("tags", head[: -len("/tags")])
    return None

"""`/registry/mirrors`: the pull-through cache's upstreams and cached images, for administrators
(a tinyreg addition: GitLab's Dependency Proxy has its own API, by group).

    GET    /registry/mirrors                                  each mirror: settings, size, hit rate
    GET    /registry/mirrors/:name/repositories               its cached repositories
    DELETE /registry/mirrors/:name/repositories/:repository   purge one (URL-encoded upstream name)
    DELETE /registry/mirrors/:name/repositories               purge them all

A purge removes the repository's tags and manifests; garbage collection then frees its blobs.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

from quart import Blueprint, Response

from tinyreg.http.api.context import ApiState
from tinyreg.http.api.errors import json_response, not_found
from tinyreg.http.api.lookup import require_admin, require_scope
from tinyreg.registry.mirrors import Mirror


def mirror_json(mirror: Mirror, entries: list[dict[str, Any]]) -> dict[str, Any]:
    """A mirror's settings (never its password) and its cache's totals."""
    hits, misses = sum(entry["hits"] for entry in entries), sum(entry["misses"] for entry in entries)
    return {
        "name": mirror.name,
        "url": mirror.url,
        "username": mirror.username or None,
        "tag_ttl": mirror.tag_ttl,
        "allow": list(mirror.allow),
        "deny": list(mirror.deny),
        "public": mirror.public,
        "size_limit": mirror.size_limit,
        "size": sum(entry["size"] for entry in entries),
        "repositories": len(entries),
        "hits": hits,
        "misses": misses,
        "hit_rate": round(hits / (hits + misses), 4) if hits + misses else 0.0,
    }


def register(api: Blueprint, state: ApiState) -> None:
    def admin() -> None:
        principal = state.signed_in()
        require_scope(principal, write=False)
        require_admin(principal)

    def mirror(name: str) -> Mirror:
        found = next((mirror for mirror in state.settings.mirrors if mirror.name == name), None)
        if found is None:
            raise not_found("Mirror")
        return found

    @api.get("/registry/mirrors")
    async def list_mirrors() -> Response:
        admin()
        return json_response([mirror_json(m, list(state.registry.cache.entries(m.name))) for m in state.settings.mirrors])

    @api.get("/registry/mirrors/<name>/repositories")
    async def list_cached(name: str) -> Response:
        admin()
        return json_response(list(state.registry.cache.entries(mirror(name).name)))

    @api.delete("/registry/mirrors/<name>/repositories/<path:repository>")
    async def purge_one(name: str, repository: str) -> Response:
        admin()
        require_scope(state.signed_in(), write=True)
        if not state.registry.cache.purge(f"{mirror(name).name}/{unquote(repository)}"):
            raise not_found("Repository")
        return Response("", 204)

    @api.delete("/registry/mirrors/<name>/repositories")
    async def purge_all(name: str) -> Response:
        admin()
        require_scope(state.signed_in(), write=True)
        purged = [entry["repository"] for entry in state.registry.cache.entries(mirror(name).name)]
        for repository in purged:
            state.registry.cache.purge(repository)
        return json_response({"purged": purged})

"""A project's Container Registry page: its repositories, or the commands to push the first one.

`/<project path>/-/container_registry` (GitLab's `/<project path>/container_registry` redirects
there). Project and repository paths hold slashes, and `-` is never a component of a name, so
`/-/` separates the path from the page. On an open registry any path prefix is a "project".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from quart import Blueprint, Response, request

from tinyreg.access.policy import PULL, ProjectAccess
from tinyreg.http.panel import rights
from tinyreg.http.panel.base import Panel, Viewer, go, is_https, not_found, page_number, registry_host, render, viewer
from tinyreg.registry import catalogue
from tinyreg.registry.errors import RegistryError
from tinyreg.registry.names import check_name

PER_PAGE = 20


def project_access(panel: Panel, path: str, who: Viewer) -> ProjectAccess | None:
    """The project at exactly `path` with the viewer's role in it, or None if there is none."""
    username = who.principal.name if who.principal.kind == "user" else None
    found = panel.store.project_access(path, username)
    return found if found is not None and found.path == path else None


def owned_by(panel: Panel, path: str) -> Callable[[str], bool]:
    """A filter for the repositories that project `path` owns (not those of a project below it)."""

    def include(name: str) -> bool:
        owner = panel.store.project_access(name, None)
        return owner is not None and owner.path == path

    return include


@dataclass(frozen=True)
class Place:
    """A project (or, on an open registry, a path prefix) as the pages show it."""

    path: str  # "" on an open registry's front page: every repository
    access: ProjectAccess | None  # None on an open registry
    may_read: bool
    may_delete: bool
    may_manage: bool


def place_of(path: str, access: ProjectAccess | None, who: Viewer) -> Place:
    """What the viewer may do in the project at `path` (anything, on an open registry)."""
    return Place(path, access, rights.may_read(who, access), rights.may_delete(who, access), rights.may_manage(who, access))


def read_refusal(panel: Panel, place: Place, repo: str, who: Viewer) -> str:
    """Why the viewer may not list the images of `place`, in the policy's words ("" if they may)."""
    access = panel.context.access
    if place.may_read or access is None:
        return ""
    return access.refusal(who.principal, repo, {PULL})


def listing_query() -> catalogue.ListQuery:
    """search, sort (`name` or `updated`), order and page from the query string, made valid."""
    search = request.args.get("search", "").strip()
    sort = request.args.get("sort", "name")
    sort = sort if sort in catalogue.SORTS else "name"
    order = request.args.get("order", "desc" if sort == "updated" else "asc")
    order = order if order in catalogue.ORDERS else "asc"
    return catalogue.ListQuery(search, sort, order, page_number(request.args.get("page")), PER_PAGE)


def find_project(panel: Panel, path: str, who: Viewer) -> Place:
    """The project at `path` if the viewer may see it, else a 404 page (the same for both)."""
    if who.open_registry:
        if path:
            try:
                check_name(path)
            except RegistryError:
                not_found("This path")
        return place_of(path, None, who)
    access = project_access(panel, path, who)
    if access is None or not rights.may_see(who, access):
        not_found(f"Project {path}")
    return place_of(path, access, who)


def push_commands(host: str, path: str, plain_http: bool) -> dict[str, list[str]]:
    """The commands that log in to this registry and push a first image to `path`."""
    image = f"{host}/{path}/image" if path else f"{host}/group/project/image"
    insecure = " --tls-verify=false" if plain_http else ""
    return {
        "docker": [f"docker login {host}", f"docker build -t {image} .", f"docker push {image}"],
        "podman": [f"podman login{insecure} {host}", f"podman build -t {image} .", f"podman push{insecure} {image}"],
    }


async def registry_page(panel: Panel, path: str) -> Response:
    """The repositories of a project (or prefix), searchable, sortable, paginated; the empty state."""
    who = viewer()
    place = find_project(panel, path, who)
    query = listing_query()
    include = owned_by(panel, path) if place.access is not None else None
    refusal = read_refusal(panel, place, path, who)
    listing: catalogue.Listing[catalogue.RepositorySummary] = catalogue.Listing([], 0)
    if not refusal:
        listing = catalogue.list_repositories(panel.context.registry.meta, query, under=path or None, include=include)
    host = registry_host(panel.context)
    plain_http = not is_https() and not panel.context.external_url.startswith("https:")
    return await render(
        "container_registry.html",
        place=place,
        refusal=refusal,
        listing=listing,
        query=query,
        commands=push_commands(host, path, plain_http),
        host=host,
        removed=request.args.get("removed", ""),
    )


def add_routes(pages: Blueprint, panel: Panel) -> None:
    @pages.get("/<path:path>/-/container_registry")
    async def container_registry(path: str) -> Response:
        return await registry_page(panel, path)

    @pages.get("/<path:path>/container_registry")
    async def gitlab_container_registry(path: str) -> Response:
        return go(f"/{path}/-/container_registry", 301)

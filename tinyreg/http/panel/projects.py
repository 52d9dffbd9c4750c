"""The projects list (`/`): the projects the viewer may see, with their image count and size.

On an open registry there are no projects: `/` lists every repository instead.
"""

from __future__ import annotations

from dataclasses import dataclass

from quart import Blueprint, Response, request

from tinyreg.http.panel.base import Panel, Viewer, page_number, render, viewer
from tinyreg.http.panel.registry import owned_by, registry_page
from tinyreg.registry import catalogue

PER_PAGE = 20
ALL = 1_000_000  # one page holding every row


@dataclass(frozen=True)
class ProjectRow:
    """A project as the list shows it."""

    path: str
    public: bool
    registry_enabled: bool
    role: str | None
    images: int
    size: int


def project_images(panel: Panel, path: str) -> catalogue.Listing[catalogue.RepositorySummary]:
    """Every repository of the project `path` (one listing, all pages at once)."""
    query = catalogue.ListQuery(per_page=ALL)
    return catalogue.list_repositories(panel.context.registry.meta, query, under=path, include=owned_by(panel, path))


def visible_projects(panel: Panel, who: Viewer, search: str) -> list[ProjectRow]:
    """The projects the viewer may see (the store asks `policy.may_see_project`) whose path holds `search`."""
    rows = []
    for record in panel.store.visible_projects(who.principal):
        path = record["path"]
        if search.lower() not in path.lower():
            continue
        images = project_images(panel, path)
        size = sum(summary.size for summary in images.items)
        rows.append(
            ProjectRow(path, bool(record["public"]), bool(record["registry_enabled"]), record["role"], images.total, size)
        )
    return rows


def add_routes(pages: Blueprint, panel: Panel) -> None:
    @pages.get("/")
    async def index() -> Response:
        who = viewer()
        if who.open_registry:
            return await registry_page(panel, "")
        search = request.args.get("search", "").strip()
        page = page_number(request.args.get("page"))
        rows = visible_projects(panel, who, search)
        shown = rows[(page - 1) * PER_PAGE : page * PER_PAGE]
        return await render(
            "projects.html", projects=shown, total=len(rows), page=page, per_page=PER_PAGE, search=search, title="Projects"
        )

"""A repository's page: its tags (filter, sort, pages, details) and deleting tags or the repository.

`/<repository path>/-/tags`. Deleting asks first: the browser's confirm dialog with JavaScript,
otherwise a page that repeats the question with a button; a repository is deleted only once its
path is typed. Every delete is decided again by the access policy when it is posted, so a
forged request from someone without the button is refused.
"""

from __future__ import annotations

from quart import Blueprint, Response, request

from tinyreg.access.policy import DELETE
from tinyreg.http.event_origin import origin_of_page
from tinyreg.http.panel import rights
from tinyreg.http.panel.base import Panel, Viewer, go, not_found, refuse, registry_host, render, viewer
from tinyreg.http.panel.registry import Place, listing_query, place_of, read_refusal
from tinyreg.registry import catalogue
from tinyreg.registry.errors import RegistryError
from tinyreg.registry.names import check_name


def find_repository(panel: Panel, repo: str, who: Viewer) -> tuple[Place, catalogue.RepositorySummary]:
    """The repository and its project, if both exist and the viewer may see them; else 404."""
    try:
        check_name(repo)
    except RegistryError:
        not_found(f"Repository {repo}")
    if who.open_registry:
        place = place_of(repo.rpartition("/")[0], None, who)
    else:
        username = who.principal.name if who.principal.kind == "user" else None
        access = panel.store.project_access(repo, username)
        if access is None or not rights.may_see(who, access):
            not_found(f"Repository {repo}")
        place = place_of(access.path, access, who)
        refusal = read_refusal(panel, place, repo, who)
        if refusal:
            refuse(403, "Not allowed", f"{refusal}.")
    summary = catalogue.repository_summary(panel.context.registry.meta, repo)
    if summary is None:
        not_found(f"Repository {repo}")
    return place, summary


def check_may_delete(panel: Panel, place: Place, repo: str, who: Viewer) -> None:
    """Refuse (403, saying why in the policy's words) unless the viewer may delete in `repo`."""
    if place.may_delete:
        return
    access = panel.context.access
    reason = access.refusal(who.principal, repo, {DELETE}) if access is not None else "delete is not allowed"
    refuse(403, "Not allowed", f"Nothing was deleted: {reason}.")


def add_routes(pages: Blueprint, panel: Panel) -> None:
    @pages.get("/<path:repo>/-/tags")
    async def repository(repo: str) -> Response:
        who = viewer()
        place, summary = find_repository(panel, repo, who)
        query = listing_query()
        listing = catalogue.list_tags(panel.context.registry.meta, repo, query)
        return await render(
            "repository.html",
            place=place,
            repo=repo,
            summary=summary,
            listing=listing,
            query=query,
            host=registry_host(panel.context),
            select_all=request.args.get("select") == "all",
            deleted=request.args.get("deleted", ""),
            problem="",
        )

    @pages.post("/<path:repo>/-/tags/delete")
    async def delete_tags(repo: str) -> Response:
        who = viewer()
        place, _ = find_repository(panel, repo, who)
        form = await request.form
        chosen = [form["only"]] if form.get("only") else form.getlist("tag")
        check_may_delete(panel, place, repo, who)
        if not chosen:
            refuse(400, "No tag chosen", "Select at least one tag to delete.")
        if form.get("confirmed") != "yes":
            return await render("confirm_tags.html", place=place, repo=repo, tags=chosen)
        try:
            gone = panel.context.registry.manifests.delete_tags(repo, chosen, origin_of_page(request.scope, who.name))
        except RegistryError as error:
            refuse(400, "Not deleted", error.message)
        return go(f"/{repo}/-/tags?deleted={len(gone)}", 303)

    @pages.post("/<path:repo>/-/delete")
    async def delete_repository(repo: str) -> Response:
        who = viewer()
        place, _ = find_repository(panel, repo, who)
        check_may_delete(panel, place, repo, who)
        form = await request.form
        if form.get("confirm_path", "").strip() != repo:
            refuse(400, "Repository not deleted", f"To delete it, type its path exactly: {repo}")
        try:
            panel.context.registry.manifests.delete_repository(repo, origin_of_page(request.scope, who.name))
        except RegistryError as error:
            refuse(400, "Not deleted", error.message)
        target = f"/{place.path}/-/container_registry" if place.path else "/"
        return go(f"{target}?removed={repo}", 303)

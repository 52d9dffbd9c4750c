"""The admin area's mirrors page: each upstream of the pull-through cache with its cached
images (size, tags, hit rate, last pull) and a purge button per image. Admins only."""

from __future__ import annotations

from quart import Blueprint, Response, request

from tinyreg.http.panel.admin import admin_only
from tinyreg.http.panel.base import Panel, go, not_found, render


def add_routes(pages: Blueprint, panel: Panel) -> None:
    @pages.get("/admin/mirrors")
    async def mirrors_page() -> Response:
        admin_only(panel)
        cache = panel.context.registry.cache
        shown = [(mirror, list(cache.entries(mirror.name))) for mirror in panel.context.mirrors]
        return await render("admin_mirrors.html", mirrors=shown, saved=request.args.get("saved", ""), problem="")

    @pages.post("/admin/mirrors/purge")
    async def purge() -> Response:
        admin_only(panel)
        form = await request.form
        repository = form.get("repository", "")
        if repository.split("/", 1)[0] not in {mirror.name for mirror in panel.context.mirrors}:
            not_found("That cached image")
        if form.get("confirmed") != "yes":
            return await render(
                "confirm.html",
                question=f"Purge {repository} from the cache?",
                detail="Its tags and manifests go now, its layers at the next garbage collection; the next pull fetches it again.",
                action="/admin/mirrors/purge",
                back="/admin/mirrors",
                fields={"repository": repository},
            )
        if not panel.context.registry.cache.purge(repository):
            not_found("That cached image")
        return go(f"/admin/mirrors?saved=purged {repository}", 303)

"""The admin area: users (create, make admin, tokens only, remove), projects and groups (create).

Only admins see it; everyone else gets the 404 page of a page that does not exist.
"""

from __future__ import annotations

from quart import Blueprint, Response, request

from tinyreg.access.store import AccessError
from tinyreg.http.panel import rights
from tinyreg.http.panel.base import Panel, Viewer, form_flag, go, not_found, refuse, render, viewer
from tinyreg.http.panel.user import MIN_PASSWORD


def admin_only(panel: Panel) -> Viewer:
    who = viewer()
    panel.require_users()
    if not rights.is_admin(who):
        not_found("The admin area")
    return who


async def users_page(panel: Panel, *, status: int = 200, problem: str = "") -> Response:
    users = sorted(panel.store.users(), key=lambda user: user["name"])
    return await render("admin_users.html", status=status, users=users, problem=problem, saved=request.args.get("saved", ""))


#: The kinds of place an admin creates here: projects and groups, each with a path, a
#: visibility and an optional owner.
PLACES = ("projects", "groups")


async def places_page(panel: Panel, kind: str, *, status: int = 200, problem: str = "") -> Response:
    rows = panel.store.projects() if kind == "projects" else panel.store.groups()
    places = sorted(rows, key=lambda row: row["path"])
    return await render(
        "admin_places.html", status=status, kind=kind, places=places, problem=problem, saved=request.args.get("saved", "")
    )


def create_place(panel: Panel, kind: str, path: str, public: bool, owner: str | None) -> None:
    if kind == "projects":
        panel.store.create_project(path, public=public, owner=owner)
    else:
        panel.store.create_group(path, visibility="public" if public else "private", owner=owner)


def add_routes(pages: Blueprint, panel: Panel) -> None:
    @pages.get("/admin")
    async def admin_home() -> Response:
        admin_only(panel)
        return go("/admin/users")

    @pages.get("/admin/users")
    async def users() -> Response:
        admin_only(panel)
        return await users_page(panel)

    @pages.post("/admin/users")
    async def create_user() -> Response:
        admin_only(panel)
        form = await request.form
        name, password = form.get("name", "").strip(), form.get("password", "")
        tokens_only = form_flag(form, "tokens_only")
        if not tokens_only and len(password) < MIN_PASSWORD:
            return await users_page(panel, status=400, problem=f"A password has at least {MIN_PASSWORD} characters.")
        try:
            panel.store.add_user(name, None if tokens_only else password, admin=form_flag(form, "admin"))
            if tokens_only:
                panel.store.update_user(name, tokens_only=True)
        except AccessError as error:
            return await users_page(panel, status=400, problem=str(error))
        return go(f"/admin/users?saved={name}", 303)

    @pages.post("/admin/users/<name>/update")
    async def update_user(name: str) -> Response:
        who = admin_only(panel)
        form = await request.form
        changes = {field: form[field] == "on" for field in ("admin", "tokens_only") if form.get(field) in ("on", "off")}
        if name == who.name and changes.get("admin") is False:
            refuse(400, "Not changed", "You cannot take away your own admin rights: another admin can.")
        try:
            panel.store.update_user(name, **changes)
        except AccessError as error:
            return await users_page(panel, status=400, problem=str(error))
        return go(f"/admin/users?saved={name}", 303)

    @pages.post("/admin/users/<name>/remove")
    async def remove_user(name: str) -> Response:
        who = admin_only(panel)
        form = await request.form
        if name == who.name:
            refuse(400, "Not removed", "You cannot remove yourself: another admin can.")
        if form.get("confirmed") != "yes":
            return await render(
                "confirm.html",
                question=f"Remove user {name}?",
                detail="Their memberships go, their tokens are revoked and their sessions end.",
                action=f"/admin/users/{name}/remove",
                back="/admin/users",
            )
        try:
            panel.store.remove_user(name)
        except AccessError as error:
            return await users_page(panel, status=400, problem=str(error))
        return go("/admin/users?saved=removed", 303)

    @pages.get("/admin/<any(projects, groups):kind>")
    async def places(kind: str) -> Response:
        admin_only(panel)
        return await places_page(panel, kind)

    @pages.post("/admin/<any(projects, groups):kind>")
    async def create(kind: str) -> Response:
        admin_only(panel)
        form = await request.form
        path, owner = form.get("path", "").strip().strip("/"), form.get("owner", "").strip() or None
        try:
            create_place(panel, kind, path, form.get("visibility") == "public", owner)
        except AccessError as error:
            return await places_page(panel, kind, status=400, problem=str(error))
        return go(f"/admin/{kind}?saved={path}", 303)

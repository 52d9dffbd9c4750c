"""Moving from the panel: a project from its settings page, a repository from its page.

Both are plain form POSTs with the CSRF field, confirmed by typing the current path (as deleting
a repository is); the decision is the policy's (`Mover` asks `may_move_project` /
`may_move_repository`), so a forged form meets the same refusal as the API.
"""

from __future__ import annotations

from quart import Blueprint, Response, request

from tinyreg.access.moves import Mover, MoveRefused
from tinyreg.http.event_origin import origin_of_page
from tinyreg.http.panel.base import Panel, go, refuse, viewer
from tinyreg.http.panel.settings import managed_project
from tinyreg.http.panel.tags import find_repository


def _mover(panel: Panel) -> Mover:
    registry = panel.context.registry
    return Mover(registry.meta, registry.accounting, registry.move_alias_days, registry.notifier)


async def _confirmed_target(current: str, what: str) -> str:
    """The new path of a move form whose confirmation names `current` exactly."""
    form = await request.form
    if form.get("confirm_path", "").strip() != current:
        refuse(400, f"{what} not moved", f"To move it, type its current path exactly: {current}")
    return str(form.get("new_path", "")).strip()


def add_routes(pages: Blueprint, panel: Panel) -> None:
    @pages.post("/<path:path>/-/settings/move")
    async def move_project(path: str) -> Response:
        place = managed_project(panel, path)
        new = await _confirmed_target(place.path, "Project")
        principal = viewer().principal
        try:
            _mover(panel).move_project(place.path, new, principal, origin_of_page(request.scope, principal.name))
        except MoveRefused as error:
            refuse(403 if error.forbidden else 400, "Project not moved", str(error))
        return go(f"/{new}/-/settings?saved=moved", 303)

    @pages.post("/<path:repo>/-/move")
    async def move_repository(repo: str) -> Response:
        panel.require_users()
        who = viewer()
        place, _ = find_repository(panel, repo, who)
        if not place.may_manage:
            refuse(403, "Not allowed", f"Only maintainers and owners of {place.path} (and admins) may move its repositories.")
        new = await _confirmed_target(repo, "Repository")
        try:
            _mover(panel).move_repository(repo, new, who.principal, origin_of_page(request.scope, who.name))
        except MoveRefused as error:
            refuse(403 if error.forbidden else 400, "Repository not moved", str(error))
        return go(f"/{new}/-/tags", 303)

"""The web panel: server-rendered pages to see and manage projects, images, tags and tokens.

One module per group of pages (signin, projects, registry, tags, settings, hooks, user, admin), all on one
blueprint; `base.py` holds what they share (viewer, CSRF, rendering), `rights.py` the questions
they put to the access policy. Every action is a plain form POST, so the panel works without
JavaScript; the little script there is only copies commands and asks for confirmations.
"""

from __future__ import annotations

from quart import Blueprint, Response

from tinyreg.http.panel import admin, hooks, mirrors, moves, projects, registry, settings, signin, tags, user
from tinyreg.http.panel.base import Panel, PanelContext, PanelError, error_page


def blueprint(context: PanelContext) -> Blueprint:
    panel = Panel(context)
    pages = Blueprint("panel", __name__, template_folder="templates", static_folder="static", static_url_path="/-/static")
    pages.before_request(panel.load_viewer)
    pages.after_request(panel.finish)

    @pages.errorhandler(PanelError)
    async def refused(error: PanelError) -> Response:
        return await error_page(error)

    for module in (signin, projects, registry, tags, settings, hooks, user, admin, mirrors, moves):
        module.add_routes(pages, panel)
    return pages

"""The web panel: server-rendered pages to see and manage projects, images and tags."""

from __future__ import annotations

from typing import TYPE_CHECKING

from quart import Blueprint

from tinyreg import __version__

if TYPE_CHECKING:
    from tinyreg.http.webcontext import WebContext

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>tinyreg</title></head>
<body><h1>tinyreg {version}</h1>
<p>A container registry. The API is at <a href="/v2/">/v2/</a>.</p></body></html>
"""


def blueprint(context: WebContext) -> Blueprint:
    panel = Blueprint("panel", __name__)

    @panel.get("/")
    async def index() -> tuple[str, int, dict[str, str]]:
        return PAGE.format(version=__version__), 200, {"Content-Type": "text/html; charset=utf-8"}

    return panel

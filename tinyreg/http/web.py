"""Pages for people, served by Quart: everything outside `/v2/`."""

from __future__ import annotations

from quart_trio import QuartTrio

from tinyreg import __version__
from tinyreg.registry.core import Registry

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>tinyreg</title></head>
<body><h1>tinyreg {version}</h1>
<p>A container registry. The API is at <a href="/v2/">/v2/</a>.</p></body></html>
"""


def create_web_app(registry: Registry) -> QuartTrio:
    """The Quart application for the registry's pages."""
    app = QuartTrio("tinyreg")

    @app.get("/")
    async def index() -> tuple[str, int, dict[str, str]]:
        return PAGE.format(version=__version__), 200, {"Content-Type": "text/html; charset=utf-8"}

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    return app

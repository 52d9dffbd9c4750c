"""The Quart-Trio application for everything outside `/v2/`: the panel and `/api/v4` as blueprints."""

from __future__ import annotations

from quart_trio import QuartTrio

from tinyreg import __version__
from tinyreg.http import api, panel
from tinyreg.http.web import WebContext


def create_web_app(context: WebContext) -> QuartTrio:
    """The Quart application for the registry's pages and its `/api/v4`."""
    app = QuartTrio("tinyreg")
    app.register_blueprint(api.blueprint(context))
    app.register_blueprint(panel.blueprint(context))

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    return app

"""Pages for people and the GitLab-shaped API, served by Quart: everything outside `/v2/`.

The panel (`http/panel/`) and the API (`http/api/`) are blueprints of one Quart-Trio app; both
get the same `WebContext` and decide every action through the access policy.
"""

from __future__ import annotations

from quart_trio import QuartTrio

from tinyreg import __version__
from tinyreg.http.webcontext import WebContext


def create_web_app(context: WebContext) -> QuartTrio:
    """The Quart application for the registry's pages and its `/api/v4`."""
    from tinyreg.http import api, panel

    app = QuartTrio("tinyreg")
    app.register_blueprint(api.blueprint(context))
    app.register_blueprint(panel.blueprint(context))

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    return app

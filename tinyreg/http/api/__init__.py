"""`/api/v4`: the GitLab REST API's registry-related part, same paths, fields and errors.

One small module per resource registers its routes; errors are written by `errors.py`,
pagination by `pagination.py`, and every decision goes through the access policy
(`lookup.py` holds the calls). python-gitlab is the client the tests drive it with.
"""

from __future__ import annotations

import logging
import re
from typing import Any
from urllib.parse import unquote

from quart import Blueprint, Response
from quart.blueprints import BlueprintSetupState

from tinyreg.http.api import deploy_tokens, groups, hooks, members, mirrors, moves, projects, repositories, tags, tokens, users
from tinyreg.http.api.context import ApiState, WebSettings
from tinyreg.http.api.errors import ApiError, json_response

PREFIX = "/api/v4"
log = logging.getLogger("tinyreg.api")
_KEPT_ENCODED = re.compile(r"%(2[fF]|25)")


def blueprint(context: WebSettings) -> Blueprint:
    api = Blueprint("api", __name__, url_prefix=PREFIX)
    state = ApiState(context)
    for resource in (users, tokens, groups, projects, members, deploy_tokens, hooks, repositories, tags, mirrors, moves):
        resource.register(api, state)

    @api.errorhandler(ApiError)
    async def api_error(error: ApiError) -> Response:
        return error.response()

    @api.errorhandler(Exception)
    async def failure(error: Exception) -> Response:
        log.exception("/api/v4 request failed", exc_info=error)
        return json_response({"message": "500 Internal Server Error"}, 500)

    @api.route("/<path:rest>", methods=["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD"])
    async def unknown(rest: str) -> Response:
        return json_response({"error": "404 Not Found"}, 404)

    api.record_once(_keep_encoded_slashes)
    return api


def _keep_encoded_slashes(setup: BlueprintSetupState) -> None:
    app: Any = setup.app  # a QuartTrio app, typed by Flask's base class that has no asgi_app
    app.asgi_app = KeepEncodedSlashes(app.asgi_app)


class KeepEncodedSlashes:
    """Route `/api/v4` requests on their path with `%2F` left encoded.

    GitLab names a project by its URL-encoded path (`/projects/group%2Fapp/members`); the
    server decodes the path, which would make that `/projects/group/app/members`, which no
    route can tell apart from a project's sub-resource. Only `%2F` (and `%25`, so the two stay
    apart) stay encoded; the routes decode the identifiers they take.
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        raw = scope.get("raw_path")
        if scope.get("type") == "http" and isinstance(raw, bytes) and scope.get("path", "").startswith(PREFIX + "/"):
            pieces = _KEPT_ENCODED.split(raw.decode("latin-1").split("?", 1)[0])
            # re.split with a group alternates text and the escapes it found: decode the text only
            path = "".join(unquote(piece) if i % 2 == 0 else f"%{piece.upper()}" for i, piece in enumerate(pieces))
            scope = {**scope, "path": path}
        await self.app(scope, receive, send)

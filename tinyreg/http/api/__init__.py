"""`/api/v4`: the GitLab REST API's registry-related part, same paths, fields and errors."""

from __future__ import annotations

from typing import TYPE_CHECKING

from quart import Blueprint

if TYPE_CHECKING:
    from tinyreg.http.webcontext import WebContext


def blueprint(context: WebContext) -> Blueprint:
    api = Blueprint("api", __name__, url_prefix="/api/v4")
    return api

"""What every page of the panel shares: who is looking, CSRF, rendering, refusals, formatting.

`load_viewer` runs before each request of the panel: it resumes the session, refuses a POST
whose CSRF token is missing or wrong (403, a readable page), and keeps the viewer in `g`.
`finish` runs after: it sets or renews cookies and the security headers of every page.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NoReturn, Protocol
from urllib.parse import urlencode, urlsplit

from quart import Response, g, render_template, request
from werkzeug.exceptions import HTTPException

from tinyreg.access import policy
from tinyreg.access.policy import ANONYMOUS, Principal
from tinyreg.access.sessions import CSRF_COOKIE, CSRF_FIELD, IDLE, SESSION_COOKIE, Session, Sessions, new_secret, same_secret

if TYPE_CHECKING:
    from tinyreg.access.control import AccessControl
    from tinyreg.access.store import AccessStore
    from tinyreg.registry.core import Registry
    from tinyreg.registry.mirrors import Mirror

HTML = "text/html; charset=utf-8"
UNITS = ("B", "KiB", "MiB", "GiB", "TiB")


class PanelContext(Protocol):
    """What the panel reads of the web app's context: structural, so `http.web` imports the
    panel and not the other way round."""

    @property
    def registry(self) -> Registry: ...
    @property
    def access(self) -> AccessControl | None: ...  # None: an open registry (no --auth)
    @property
    def external_url(self) -> str: ...
    @property
    def mirrors(self) -> tuple[Mirror, ...]: ...


@dataclass(frozen=True)
class Viewer:
    """Who is looking at a page: anyone on an open registry, else a signed-in user or anonymous."""

    open_registry: bool
    principal: Principal
    session: Session | None
    csrf: str

    @property
    def signed_in(self) -> bool:
        return self.session is not None

    @property
    def name(self) -> str:
        return self.principal.name

    @property
    def may_change_settings(self) -> bool:
        """Whether this sign-in may change settings at all: a password, or a token with the
        scope `api` (as the API asks); a registry-only token reaches images, not settings."""
        return not self.open_registry and policy.may_call_api(self.principal, write=True)

    @property
    def may_administer(self) -> bool:
        return self.may_change_settings and policy.may_administer(self.principal)


class PanelError(HTTPException):
    """A refusal or failure shown as a page: status, title and a sentence saying why."""

    def __init__(self, status: int, title: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.code = status
        self.title = title
        self.message = message
        self.extra_headers = headers or {}


def refuse(status: int, title: str, message: str, headers: dict[str, str] | None = None) -> NoReturn:
    raise PanelError(status, title, message, headers)


def not_found(what: str = "This page") -> NoReturn:
    refuse(404, "Not found", f"{what} does not exist, or you may not see it.")


class Panel:
    """The panel's state: the web context and, with --auth, the sessions."""

    def __init__(self, context: PanelContext) -> None:
        self.context = context
        self.sessions = Sessions(context.access) if context.access is not None else None

    @property
    def store(self) -> AccessStore:
        """The access store (only pages that exist with --auth ask for it)."""
        if self.context.access is None:
            not_found("This page of a registry with --auth")
        return self.context.access.store

    def require_users(self) -> None:
        """A 404 page on an open registry, which has no users, tokens or admin area."""
        if self.context.access is None:
            not_found("This page of a registry with --auth")

    async def load_viewer(self) -> None:
        g.nonce = secrets.token_urlsafe(16)
        g.new_cookies = {}
        session = self.sessions.resume(request.cookies.get(SESSION_COOKIE)) if self.sessions is not None else None
        if session is not None:
            csrf = session.csrf
        else:
            csrf = request.cookies.get(CSRF_COOKIE) or ""
            if len(csrf) < 32:  # absent or not one of ours: a fresh one, set after the page
                csrf = new_secret()
                g.new_cookies[CSRF_COOKIE] = (csrf, None)
        principal = session.principal if session is not None else ANONYMOUS
        g.viewer = Viewer(self.context.access is None, principal, session, csrf)
        if request.method == "POST":
            form = await request.form
            if not same_secret(csrf, form.get(CSRF_FIELD)):
                refuse(
                    403,
                    "Form expired or forged",
                    "This form did not carry this session's security token, so nothing was done. "
                    "Go back, reload the page and try again.",
                )

    async def finish(self, response: Response) -> Response:
        viewer: Viewer | None = g.get("viewer")
        if (
            viewer is not None
            and viewer.session is not None
            and self.sessions is not None
            and SESSION_COOKIE not in g.new_cookies
        ):
            renewed = self.sessions.renewed(viewer.session)
            if renewed is not None:
                g.new_cookies[SESSION_COOKIE] = (renewed, IDLE)
        for name, (value, max_age) in g.get("new_cookies", {}).items():
            set_cookie(response, name, value, max_age)
        nonce = g.get("nonce", "")
        response.headers.setdefault(
            "Content-Security-Policy",
            f"default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; "
            f"base-uri 'none'; script-src 'nonce-{nonce}'",
        )
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "same-origin"
        response.headers["X-Frame-Options"] = "DENY"
        if response.mimetype == "text/html":
            response.headers["Cache-Control"] = "no-store"
        return response


def is_https() -> bool:
    """Whether the browser reached us over https: directly, or through a proxy that says so.
    Trusting `X-Forwarded-Proto` here can only add `Secure` to the sender's own cookies."""
    forwarded = request.headers.get("X-Forwarded-Proto", "").split(",")[0].strip().lower()
    return request.scheme == "https" or forwarded == "https"


def set_cookie(response: Response, name: str, value: str, max_age: float | None) -> None:
    """HttpOnly, SameSite=Lax, Secure over https; `max_age` None: until the browser closes; 0: delete."""
    response.set_cookie(
        name,
        value,
        max_age=int(max_age) if max_age is not None else None,
        path="/",
        secure=is_https(),
        httponly=True,
        samesite="Lax",
    )


def viewer() -> Viewer:
    found: Viewer = g.viewer
    return found


def registry_host(context: PanelContext) -> str:
    """`host[:port]` as image references name this registry: the external URL's, else the request's."""
    if context.external_url:
        return urlsplit(context.external_url).netloc or request.host
    return request.host


async def render(template: str, status: int = 200, headers: dict[str, str] | None = None, **values: Any) -> Response:
    """A page from `template`, with the viewer, its CSRF token and the script nonce."""
    page = await render_template(
        template,
        viewer=viewer(),
        csrf_field=CSRF_FIELD,
        nonce=g.get("nonce", ""),
        url_with=url_with,
        human_size=human_size,
        when=when,
        short_digest=short_digest,
        **values,
    )
    return Response(page, status=status, headers=headers or {}, content_type=HTML)


async def error_page(error: PanelError) -> Response:
    return await render(
        "error.html", status=error.code or 500, headers=error.extra_headers, title=error.title, message=error.message
    )


def go(location: str, status: int = 303) -> Response:
    """A redirect to a path of this site (303 after a form: the browser follows with a GET)."""
    return Response("", status=status, headers={"Location": location})


def url_with(**changes: Any) -> str:
    """This page's path and query string with some parameters changed (None removes one)."""
    args = {key: value for key, value in request.args.items() if key not in ("deleted", "removed", "select")}
    for key, value in changes.items():
        if value is None:
            args.pop(key, None)
        else:
            args[key] = str(value)
    return request.path + ("?" + urlencode(args) if args else "")


def form_flag(form: Any, name: str) -> bool:
    return form.get(name) in ("on", "1", "true", "yes")


async def form_values() -> Any:
    return await request.form


def page_number(value: str | None) -> int:
    """The `page` query parameter (from 1); a bad one is page 1."""
    try:
        number = int(value or "1")
    except ValueError:
        return 1
    return max(1, min(number, 1_000_000))


def human_size(size: int | None) -> str:
    """`1.5 MiB`: sizes in binary units, as the registry's clients print them."""
    if size is None:
        return "-"
    value = float(size)
    for unit in UNITS:
        if value < 1024 or unit == UNITS[-1]:
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"


def when(timestamp: float | None) -> str:
    """`2026-12-03 13:55 UTC`, or `-` for a time not recorded."""
    if timestamp is None:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(timestamp))


def short_digest(digest: str | None) -> str:
    """The first 12 hex digits of a digest, as `docker images` shows them."""
    if not digest:
        return "-"
    return digest.partition(":")[2][:12] or digest[:12]

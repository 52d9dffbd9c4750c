"""Sign in (a password, or a personal access token as the password) and sign out.

Sign-in goes through `AccessControl.authenticate`, the registry logins' own path: the same
throttle (slowed, then 429 with Retry-After), the same log line for every failure, the same
reasons (a tokens-only user is told to use a token).
"""

from __future__ import annotations

from quart import Blueprint, Response, g, request

from tinyreg.access.sessions import IDLE, SESSION_COOKIE
from tinyreg.http.panel.base import Panel, go, refuse, render, viewer
from tinyreg.registry.errors import RegistryError

SIGN_IN = "/users/sign_in"


def safe_next(target: str | None) -> str:
    """Where to go after signing in: a path of this site only (never `//host` or a URL)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def add_routes(pages: Blueprint, panel: Panel) -> None:
    @pages.get(SIGN_IN)
    async def sign_in_form() -> Response:
        if panel.sessions is None:
            refuse(404, "No sign-in", "This registry runs without --auth: there is nobody to sign in as.")
        if viewer().signed_in:
            return go(safe_next(request.args.get("next")))
        return await render("signin.html", next=safe_next(request.args.get("next")), username="", problem="")

    @pages.post(SIGN_IN)
    async def sign_in() -> Response:
        access, sessions = panel.context.access, panel.sessions
        if access is None or sessions is None:
            refuse(404, "No sign-in", "This registry runs without --auth: there is nobody to sign in as.")
        form = await request.form
        username, password = form.get("username", "").strip(), form.get("password", "")
        target = safe_next(form.get("next"))
        client = request.remote_addr or "-"
        try:
            principal, reason = await access.authenticate(username, password, client)
        except RegistryError as error:  # throttled: the registry's own refusal, said on the form
            return await render(
                "signin.html", status=error.status, headers=error.headers, next=target, username=username, problem=error.message
            )
        if principal is not None and principal.kind != "user":
            principal, reason = None, "a deploy token logs in from a client (docker, podman, skopeo), not into the panel"
        if principal is None:
            return await render("signin.html", status=401, next=target, username=username, problem=reason)
        g.new_cookies[SESSION_COOKIE] = (sessions.open(principal), IDLE)
        return go(target, 303)

    @pages.post("/users/sign_out")
    async def sign_out() -> Response:
        g.new_cookies[SESSION_COOKIE] = ("", 0)
        return go(SIGN_IN, 303)

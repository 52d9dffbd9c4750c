"""The signed-in user's own settings: password, personal access tokens (a new secret shown once).

Changing the password ends every other session and every registry token issued for the old
one (the credentials version changes); this browser gets a fresh session. The current password
is checked through `AccessControl.authenticate`, so guessing it here is throttled as anywhere.
"""

from __future__ import annotations

import time
from typing import Any

from quart import Blueprint, Response, g, request

from tinyreg.access.policy import SCOPES
from tinyreg.access.sessions import IDLE, SESSION_COOKIE
from tinyreg.access.store import AccessError
from tinyreg.http.panel.base import Panel, Viewer, go, refuse, render, viewer
from tinyreg.http.panel.settings import chosen_scopes, expiry
from tinyreg.registry.errors import RegistryError

MIN_PASSWORD = 8
BASE = "/-/user_settings"


def signed_in(panel: Panel) -> Viewer:
    who = viewer()
    panel.require_users()
    if not who.signed_in:
        refuse(401, "Sign in first", "Your settings are shown once you have signed in.")
    return who


async def user_page(panel: Panel, who: Viewer, *, status: int = 200, new_token: Any = None, problem: str = "") -> Response:
    record = panel.store.user(who.name) or {}
    return await render(
        "user_settings.html",
        status=status,
        account=record,
        tokens=panel.store.tokens(kind="personal", owner=who.name),
        scopes=list(SCOPES),
        allowed=who.principal.scopes,
        new_token=new_token,
        problem=problem,
        saved=request.args.get("saved", ""),
        now=time.time(),
    )


async def check_current_password(panel: Panel, who: Viewer, password: str) -> str:
    """Why the current password is not proven (empty when it is). A user without a usable
    password (none, or tokens only) cannot set one here: a token must not lead to a password."""
    record = panel.store.user(who.name) or {}
    access = panel.context.access
    if access is None:
        return "this registry has no users"
    if not record.get("password") or record.get("tokens_only"):
        return f"user {who.name} signs in with personal access tokens only; an admin can change that"
    try:
        principal, reason = await access.authenticate(who.name, password, request.remote_addr or "-")
    except RegistryError as error:
        return error.message
    return "" if principal is not None and principal.token_id is None else (reason or "the current password is wrong")


def add_routes(pages: Blueprint, panel: Panel) -> None:
    @pages.get(BASE)
    async def user_settings() -> Response:
        return await user_page(panel, signed_in(panel))

    @pages.post(f"{BASE}/password")
    async def change_password() -> Response:
        who = signed_in(panel)
        form = await request.form
        new = form.get("new_password", "")
        problem = await check_current_password(panel, who, form.get("current_password", ""))
        if not problem and len(new) < MIN_PASSWORD:
            problem = f"a password has at least {MIN_PASSWORD} characters"
        elif not problem and new != form.get("confirm_password"):
            problem = "the new passwords differ"
        if problem:
            return await user_page(panel, who, status=400, problem=f"Password not changed: {problem}.")
        panel.store.update_user(who.name, password=new)
        sessions = panel.sessions
        if sessions is not None:  # the others end with the old password; this one goes on
            g.new_cookies[SESSION_COOKIE] = (sessions.open(who.principal), IDLE)
        return go(f"{BASE}?saved=password", 303)

    @pages.post(f"{BASE}/personal_access_tokens")
    async def create_token() -> Response:
        who = signed_in(panel)
        form = await request.form
        name = form.get("name", "").strip() or "token"
        try:
            scopes = chosen_scopes(form, who.principal.scopes)
            secret, record = panel.store.create_token("personal", who.name, name, scopes, expiry(form.get("expires")))
        except AccessError as error:
            return await user_page(panel, who, status=400, problem=str(error))
        return await user_page(panel, who, new_token=(record, secret))

    @pages.post(f"{BASE}/personal_access_tokens/<int:token_id>/revoke")
    async def revoke_token(token_id: int) -> Response:
        who = signed_in(panel)
        record = panel.store.token_by_id(token_id)
        if record is None or record.kind != "personal" or record.owner != who.name:
            refuse(404, "Not found", f"You have no personal access token {token_id}.")
        panel.store.revoke_token(token_id)
        return go(f"{BASE}?saved=tokens", 303)

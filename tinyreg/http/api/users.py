"""`/user` and `/users`: who is calling, the users, and (for admins) adding and removing them."""

from __future__ import annotations

from typing import Any

from quart import Blueprint, Response, request

from tinyreg.access.policy import Principal
from tinyreg.access.store import AccessError
from tinyreg.http.api.context import ApiState, form_value, iso_time, request_form
from tinyreg.http.api.errors import bad_request, conflict, json_response
from tinyreg.http.api.lookup import find_user, require_admin, require_scope
from tinyreg.http.api.pagination import paged_list


def user_json(state: ApiState, user: dict[str, Any], *, full: bool = False) -> dict[str, Any]:
    """A user as GitLab lists them; `full` adds what only the user and admins see."""
    name = str(user["name"])
    shown: dict[str, Any] = {
        "id": user.get("id"),
        "username": name,
        "name": name,
        "state": "active",
        "locked": False,
        "avatar_url": None,
        "web_url": f"{state.base_url()}/{name}",
    }
    if full:
        shown |= {"is_admin": bool(user.get("admin")), "created_at": iso_time(user.get("created")), "email": None}
    return shown


def _user_of(state: ApiState, principal: Principal) -> dict[str, Any]:
    if not principal.name:  # the open registry's caller stands for no stored user
        return {"name": "anonymous-admin", "id": 0, "admin": True, "created": None}
    row = state.store.user(principal.name) or {}
    return {"name": principal.name, **row}


def register(api: Blueprint, state: ApiState) -> None:
    @api.get("/user")
    async def current_user() -> Response:
        principal = state.signed_in()
        require_scope(principal, write=False, user_only=True)
        return json_response(user_json(state, _user_of(state, principal), full=True))

    @api.get("/users")
    async def list_users() -> Response:
        principal = state.signed_in()
        require_scope(principal, write=False, user_only=True)
        username = request.args.get("username")
        search = request.args.get("search", "").lower()
        users = [
            user_json(state, user, full=principal.admin)
            for user in state.store.users()
            if (username is None or str(user["name"]).lower() == username.lower()) and search in str(user["name"]).lower()
        ]
        return paged_list(request.base_url, request.args, sorted(users, key=lambda user: user["id"] or 0))

    @api.get("/users/<ident>")
    async def get_user(ident: str) -> Response:
        principal = state.signed_in()
        require_scope(principal, write=False, user_only=True)
        return json_response(user_json(state, find_user(state, ident), full=principal.admin))

    @api.post("/users")
    async def create_user() -> Response:
        principal = state.signed_in()
        require_scope(principal, write=True)
        require_admin(principal)
        form = await request_form()
        username = str(form_value(form, "username", required=True))
        password = form_value(form, "password")
        admin = str(form_value(form, "admin") or "false").lower() in ("true", "1")
        if state.store.user(username) is not None:
            raise conflict("Username has already been taken")
        try:
            state.store.add_user(username, str(password) if password else None, admin=admin)
        except AccessError as exc:
            raise bad_request(f"username is invalid: {exc}") from None
        return json_response(user_json(state, {"name": username, **(state.store.user(username) or {})}, full=True), 201)

    @api.delete("/users/<ident>")
    async def delete_user(ident: str) -> Response:
        principal = state.signed_in()
        require_scope(principal, write=True)
        require_admin(principal)
        user = find_user(state, ident)
        state.store.remove_user(str(user["name"]))
        return Response("", 204)

"""Personal access tokens: made by admins for anyone, by users for themselves; listed, shown
(`self`: the token of the request) and revoked. The secret is shown once, when made."""

from __future__ import annotations

import time
from typing import Any

from quart import Blueprint, Response, request

from tinyreg.access.policy import Principal
from tinyreg.access.store import AccessError, TokenRecord
from tinyreg.http.api.context import ApiState, form_value, iso_date, iso_time, parse_date, request_form
from tinyreg.http.api.errors import bad_request, forbidden, json_response, not_found
from tinyreg.http.api.lookup import find_user, require_admin, require_scope
from tinyreg.http.api.pagination import paged_list


def token_json(state: ApiState, record: TokenRecord, secret: str | None = None) -> dict[str, Any]:
    owner = state.store.user(record.owner) if record.kind == "personal" else None
    shown: dict[str, Any] = {
        "id": record.id,
        "name": record.name,
        "revoked": record.revoked,
        "created_at": iso_time(record.created),
        "description": None,
        "scopes": list(record.scopes),
        "active": record.usable(time.time()),
        "last_used_at": None,
        "expires_at": iso_date(record.expires_at - 86400 if record.expires_at is not None else None),
    }
    if record.kind == "personal":
        shown["user_id"] = owner.get("id") if owner else None
    else:
        shown |= {"username": record.username, "expired": record.expires_at is not None and record.expires_at <= time.time()}
    if secret is not None:
        shown["token"] = secret
    return shown


async def create_token(state: ApiState, kind: str, owner: str) -> tuple[str, TokenRecord]:
    """Make a token from the request's `name`, `scopes` and `expires_at`; 400 for bad values."""
    form = await request_form()
    name = str(form_value(form, "name", required=True))
    scopes = form_value(form, "scopes") or form_value(form, "scopes[]")
    if not scopes:
        raise bad_request("scopes is missing")
    if isinstance(scopes, str):
        scopes = [scope for scope in scopes.split(",") if scope]
    expires_at = parse_date(form_value(form, "expires_at"), "expires_at")
    try:
        return state.store.create_token(kind, owner, name, list(scopes), expires_at)
    except AccessError:
        raise bad_request("scopes does not have a valid value") from None


def _visible_token(state: ApiState, principal: Principal, ident: str) -> TokenRecord:
    """The personal token `ident` (`self`: the one used) if the caller owns it or is an admin."""
    token_id = principal.token_id if ident == "self" else int(ident) if ident.isdigit() else None
    record = state.store.token_by_id(token_id) if token_id is not None else None
    if record is None or record.kind != "personal" or not (principal.admin or record.owner == principal.name):
        raise not_found("Token") if ident != "self" else forbidden()
    return record


def register(api: Blueprint, state: ApiState) -> None:
    @api.post("/users/<user_ident>/personal_access_tokens")
    async def create_for_user(user_ident: str) -> Response:
        principal = state.signed_in()
        require_scope(principal, write=True)
        require_admin(principal)
        user = find_user(state, user_ident)
        secret, record = await create_token(state, "personal", str(user["name"]))
        return json_response(token_json(state, record, secret), 201)

    @api.post("/user/personal_access_tokens")
    async def create_for_self() -> Response:
        principal = state.signed_in()
        require_scope(principal, write=True)
        if not principal.name:
            raise bad_request("an open registry has no users to make tokens for")
        secret, record = await create_token(state, "personal", principal.name)
        return json_response(token_json(state, record, secret), 201)

    @api.get("/personal_access_tokens")
    async def list_tokens() -> Response:
        principal = state.signed_in()
        require_scope(principal, write=False)
        wanted = request.args.get("user_id")
        owner = None if principal.admin else principal.name
        if wanted and principal.admin:
            owner = str(find_user(state, wanted)["name"])
        records = state.store.tokens(kind="personal", owner=owner)
        return paged_list(request.base_url, request.args, [token_json(state, record) for record in records])

    @api.get("/personal_access_tokens/<ident>")
    async def get_token(ident: str) -> Response:
        principal = state.signed_in()
        if ident != "self":  # any token may look at itself, as in GitLab
            require_scope(principal, write=False)
        return json_response(token_json(state, _visible_token(state, principal, ident)))

    @api.delete("/personal_access_tokens/<ident>")
    async def revoke_token(ident: str) -> Response:
        principal = state.signed_in()
        if ident != "self":
            require_scope(principal, write=True)
        record = _visible_token(state, principal, ident)
        state.store.revoke_token(record.id)
        return Response("", 204)

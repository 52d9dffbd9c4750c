"""`/groups`: a group, creating one (top level by admins, subgroups by those who manage the
parent), and its members."""

from __future__ import annotations

from typing import Any

from quart import Blueprint, Response

from tinyreg.access.policy import may_administer
from tinyreg.access.store import AccessError
from tinyreg.http.api.context import ApiState, form_value, integer, iso_time, request_form
from tinyreg.http.api.errors import ApiError, bad_request, forbidden, json_response
from tinyreg.http.api.lookup import find_group, require_create_in_group, require_group_manage, require_scope
from tinyreg.http.api.members import Members, add_member, list_members, remove_member

VISIBILITIES = ("private", "public")


def group_json(state: ApiState, path: str, row: dict[str, Any]) -> dict[str, Any]:
    parent = path.rpartition("/")[0]
    parent_row = state.store.group(parent) if parent else None
    name = path.rpartition("/")[2]
    return {
        "id": row.get("id"),
        "name": name,
        "path": name,
        "full_name": " / ".join(path.split("/")),
        "full_path": path,
        "description": "",
        "visibility": "public" if row.get("public") else "private",
        "parent_id": parent_row.get("id") if parent_row else None,
        "created_at": iso_time(row.get("created")),
        "web_url": f"{state.base_url()}/groups/{path}",
    }


def group_members(state: ApiState, path: str) -> Members:
    """The group's own members (those inherited from groups above are listed there)."""
    return Members(lambda: state.store.group_members(path), lambda user, role: state.store.set_group_member(path, user, role))


def register(api: Blueprint, state: ApiState) -> None:
    @api.get("/groups/<ident>")
    async def get_group(ident: str) -> Response:
        principal = state.caller()
        require_scope(principal, write=False)
        group = find_group(state, principal, ident)
        return json_response(group_json(state, group.path, group.row))

    @api.post("/groups")
    async def create_group() -> Response:
        principal = state.signed_in()
        require_scope(principal, write=True)
        form = await request_form()
        name = form_value(form, "name", required=True)
        path = str(form_value(form, "path") or name)
        visibility = form_value(form, "visibility") or "private"
        if visibility not in VISIBILITIES:
            raise bad_request("visibility does not have a valid value")
        parent_id = form_value(form, "parent_id")
        if parent_id not in (None, ""):
            parent = find_group(state, principal, str(integer(parent_id, "parent_id")))
            require_create_in_group(principal, parent)
            path = f"{parent.path}/{path}"
        elif not may_administer(principal):
            raise forbidden()
        try:
            state.store.create_group(path, visibility=visibility, owner=principal.name or None)
        except AccessError as exc:
            message = "has already been taken" if "already exists" in str(exc) else str(exc)
            raise ApiError(400, {"message": {"path": [message]}}) from None
        return json_response(group_json(state, path, state.store.group(path) or {}), 201)

    @api.get("/groups/<ident>/members")
    async def list_group_members(ident: str) -> Response:
        principal = state.caller()
        require_scope(principal, write=False)
        return list_members(state, group_members(state, find_group(state, principal, ident).path))

    @api.post("/groups/<ident>/members")
    async def add_group_member(ident: str) -> Response:
        principal = state.signed_in()
        group = find_group(state, principal, ident)
        require_group_manage(principal, group)
        return await add_member(state, group_members(state, group.path))

    @api.delete("/groups/<ident>/members/<user_ident>")
    async def remove_group_member(ident: str, user_ident: str) -> Response:
        principal = state.signed_in()
        group = find_group(state, principal, ident)
        require_group_manage(principal, group)
        return remove_member(state, group_members(state, group.path), user_ident)

"""`/projects/:id/members` and `/groups/:id/members`: GitLab access levels (10 guest, 20
reporter, 30 developer, 40 maintainer, 50 owner) over the registry's roles."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from quart import Blueprint, Response, request

from tinyreg.http.api.context import ACCESS_LEVELS, LEVEL_OF_ROLE, ApiState, form_value, integer, request_form
from tinyreg.http.api.errors import bad_request, conflict, json_response, not_found
from tinyreg.http.api.lookup import find_project, find_user, require_manage, require_scope
from tinyreg.http.api.pagination import paged_list
from tinyreg.http.api.users import user_json


@dataclass(frozen=True)
class Members:
    """The members of one project or group, and how to change them."""

    roles: Callable[[], dict[str, str]]
    set_role: Callable[[str, str | None], None]


def member_json(state: ApiState, name: str, role: str) -> dict[str, Any]:
    user = {"name": name, **(state.store.user(name) or {})}
    return {**user_json(state, user), "access_level": LEVEL_OF_ROLE[role], "expires_at": None, "created_at": None}


def _role(form: dict[str, Any]) -> str:
    level = integer(form_value(form, "access_level", required=True), "access_level")
    if level not in ACCESS_LEVELS:
        raise bad_request("access_level does not have a valid value")
    return ACCESS_LEVELS[level]


async def add_member(state: ApiState, members: Members) -> Response:
    form = await request_form()
    user = find_user(state, str(form_value(form, "user_id", required=True)))
    role = _role(form)
    if str(user["name"]) in members.roles():
        raise conflict("Member already exists")
    members.set_role(str(user["name"]), role)
    return json_response(member_json(state, str(user["name"]), role), 201)


async def change_member(state: ApiState, members: Members, user_ident: str) -> Response:
    name = _existing_member(state, members, user_ident)
    role = _role(await request_form())
    members.set_role(name, role)
    return json_response(member_json(state, name, role))


def remove_member(state: ApiState, members: Members, user_ident: str) -> Response:
    members.set_role(_existing_member(state, members, user_ident), None)
    return Response("", 204)


def list_members(state: ApiState, members: Members) -> Response:
    query = request.args.get("query", "").lower()
    rows = [member_json(state, name, role) for name, role in sorted(members.roles().items()) if query in name.lower()]
    return paged_list(request.base_url, request.args, rows)


def _existing_member(state: ApiState, members: Members, user_ident: str) -> str:
    name = str(find_user(state, user_ident)["name"])
    if name not in members.roles():
        raise not_found("Member")
    return name


def project_members(state: ApiState, path: str) -> Members:
    return Members(lambda: state.store.members(path), lambda user, role: state.store.set_member(path, user, role))


def register(api: Blueprint, state: ApiState) -> None:
    @api.get("/projects/<ident>/members")
    async def list_project_members(ident: str) -> Response:
        principal = state.caller()
        require_scope(principal, write=False)
        project = find_project(state, principal, ident)
        return list_members(state, project_members(state, project.path))

    @api.get("/projects/<ident>/members/<user_ident>")
    async def get_project_member(ident: str, user_ident: str) -> Response:
        principal = state.caller()
        require_scope(principal, write=False)
        members = project_members(state, find_project(state, principal, ident).path)
        name = _existing_member(state, members, user_ident)
        return json_response(member_json(state, name, members.roles()[name]))

    @api.post("/projects/<ident>/members")
    async def add_project_member(ident: str) -> Response:
        principal = state.signed_in()
        project = find_project(state, principal, ident)
        require_manage(principal, project)
        return await add_member(state, project_members(state, project.path))

    @api.put("/projects/<ident>/members/<user_ident>")
    async def change_project_member(ident: str, user_ident: str) -> Response:
        principal = state.signed_in()
        project = find_project(state, principal, ident)
        require_manage(principal, project)
        return await change_member(state, project_members(state, project.path), user_ident)

    @api.delete("/projects/<ident>/members/<user_ident>")
    async def remove_project_member(ident: str, user_ident: str) -> Response:
        principal = state.signed_in()
        project = find_project(state, principal, ident)
        require_manage(principal, project)
        return remove_member(state, project_members(state, project.path), user_ident)

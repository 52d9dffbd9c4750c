"""`/projects/:id/hooks`: a project's webhooks for its registry events, for those who manage the
project (maintainers and owners, as the policy decides). The token is written, never shown."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from quart import Blueprint, Response, request

from tinyreg.http.api.context import ApiState, iso_time, request_form
from tinyreg.http.api.errors import bad_request, json_response, not_found
from tinyreg.http.api.lookup import FoundProject, find_project, require_manage
from tinyreg.http.api.pagination import paged_list
from tinyreg.registry.notification_settings import DEFAULT_HOOK_ACTIONS
from tinyreg.registry.project_hooks import HookError, create_hook, delete_hook, get_hook, list_hooks, update_hook


def hook_json(project: FoundProject, hook_id: int, row: Mapping[str, Any]) -> dict[str, Any]:
    """A hook as GitLab shows it (its fields that apply), with tinyreg's `registry_actions`; never the token."""
    return {
        "id": hook_id,
        "url": row["url"],
        "project_id": project.id,
        "enable_ssl_verification": bool(row.get("enable_ssl_verification", True)),
        "registry_actions": list(row.get("registry_actions") or DEFAULT_HOOK_ACTIONS),
        "created_at": iso_time(row.get("created")),
    }


def _shown(project: FoundProject, hook_id: int, row: Mapping[str, Any] | None) -> Response:
    if row is None:
        raise not_found("Hook")
    return json_response(hook_json(project, hook_id, row))


def _managed(state: ApiState, ident: str, *, write: bool) -> FoundProject:
    principal = state.signed_in()
    project = find_project(state, principal, ident)
    require_manage(principal, project, write=write)
    return project


def register(api: Blueprint, state: ApiState) -> None:
    @api.get("/projects/<ident>/hooks")
    async def list_project_hooks(ident: str) -> Response:
        project = _managed(state, ident, write=False)
        hooks = [hook_json(project, hook_id, row) for hook_id, row in list_hooks(state.registry.meta, project.path)]
        return paged_list(request.base_url, request.args, hooks)

    @api.post("/projects/<ident>/hooks")
    async def add_project_hook(ident: str) -> Response:
        project = _managed(state, ident, write=True)
        try:
            hook_id, row = create_hook(state.registry.meta, project.path, await request_form())
        except HookError as exc:
            raise bad_request(str(exc)) from None
        state.registry.notifier.look_for_hooks()
        return json_response(hook_json(project, hook_id, row), 201)

    @api.get("/projects/<ident>/hooks/<int:hook_id>")
    async def show_project_hook(ident: str, hook_id: int) -> Response:
        project = _managed(state, ident, write=False)
        return _shown(project, hook_id, get_hook(state.registry.meta, project.path, hook_id))

    @api.put("/projects/<ident>/hooks/<int:hook_id>")
    async def edit_project_hook(ident: str, hook_id: int) -> Response:
        project = _managed(state, ident, write=True)
        try:
            row = update_hook(state.registry.meta, project.path, hook_id, await request_form())
        except HookError as exc:
            raise bad_request(str(exc)) from None
        return _shown(project, hook_id, row)

    @api.delete("/projects/<ident>/hooks/<int:hook_id>")
    async def remove_project_hook(ident: str, hook_id: int) -> Response:
        project = _managed(state, ident, write=True)
        if not delete_hook(state.registry.meta, project.path, hook_id):
            raise not_found("Hook")
        state.registry.notifier.look_for_hooks()
        return Response("", 204)

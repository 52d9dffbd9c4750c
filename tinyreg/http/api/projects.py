"""`/projects`: a project as GitLab shows it, the visible ones, creating one, changing its
visibility and container registry access level."""

from __future__ import annotations

from typing import Any

from quart import Blueprint, Response, request

from tinyreg.access.policy import Principal, may_administer
from tinyreg.access.store import AccessError
from tinyreg.http.api.cleanup_policies import apply_expiration_policy, stored_policy
from tinyreg.http.api.context import ApiState, form_value, iso_time, request_form
from tinyreg.http.api.errors import ApiError, bad_request, forbidden, json_response
from tinyreg.http.api.lookup import (
    FoundProject,
    find_group,
    find_project,
    require_create_project,
    require_manage,
    require_scope,
)
from tinyreg.http.api.moves import move_project, new_namespace
from tinyreg.http.api.pagination import paged_list
from tinyreg.registry.usage import parse_size

VISIBILITIES = ("private", "public")
REGISTRY_LEVELS = ("enabled", "private", "disabled")


def registry_access_level(row: dict[str, Any]) -> str:
    if not row.get("registry_enabled", True):
        return "disabled"
    return "private" if row.get("registry_private") else "enabled"


def namespace_json(state: ApiState, path: str) -> dict[str, Any]:
    """The namespace a project sits in: a group, or a user's own namespace."""
    full_path = path.rpartition("/")[0]
    kind = "user" if "/" not in full_path and state.store.user(full_path) is not None else "group"
    group = state.store.group(full_path)
    name = full_path.rpartition("/")[2]
    return {
        "id": group.get("id") if group else None,
        "name": name,
        "path": name,
        "kind": kind,
        "full_path": full_path,
        "parent_id": None,
        "web_url": f"{state.base_url()}/{full_path}",
    }


def project_json(state: ApiState, path: str, row: dict[str, Any]) -> dict[str, Any]:
    name = str(row.get("name") or path.rpartition("/")[2])  # GitLab's display name, the path's last part unless set
    level = registry_access_level(row)
    return {
        "id": row.get("id"),
        "name": name,
        "path": path.rpartition("/")[2],
        "path_with_namespace": path,
        "name_with_namespace": " / ".join(path.split("/")),
        "description": None,
        "namespace": namespace_json(state, path),
        "visibility": "public" if row.get("public") else "private",
        "created_at": iso_time(row.get("created")),
        "container_registry_enabled": level != "disabled",
        "container_registry_access_level": level,
        "container_registry_image_prefix": f"{state.registry_host()}/{path}".lower(),
        "web_url": f"{state.base_url()}/{path}",
        "container_expiration_policy": stored_policy(state, path),
    }


def _listed(state: ApiState, principal: Principal) -> list[dict[str, Any]]:
    """The projects the caller sees, filtered as `GET /projects` asks, newest first."""
    search = request.args.get("search", "").lower()
    membership = request.args.get("membership", "").lower() == "true"
    owned = request.args.get("owned", "").lower() == "true"
    visibility = request.args.get("visibility")
    rows = []
    for project in state.store.visible_projects(principal):
        path = str(project["path"])
        if (membership and project["role"] is None) or (owned and project["role"] != "owner"):
            continue
        if search and search not in path.lower():
            continue
        if visibility and visibility != ("public" if project.get("public") else "private"):
            continue
        rows.append(project_json(state, path, project))
    return sorted(rows, key=lambda row: -(row["id"] or 0))


def _settings(form: dict[str, Any]) -> dict[str, Any]:
    """The stored fields that `visibility` and `container_registry_access_level` (or the older
    `container_registry_enabled`) ask for."""
    changes: dict[str, Any] = {}
    visibility = form_value(form, "visibility")
    if visibility is not None:
        if visibility not in VISIBILITIES:
            raise bad_request("visibility does not have a valid value")
        changes["public"] = visibility == "public"
    level = form_value(form, "container_registry_access_level")
    enabled = form_value(form, "container_registry_enabled")
    if level is None and enabled is not None:
        level = "enabled" if str(enabled).lower() in ("true", "1") else "disabled"
    if level is not None:
        if level not in REGISTRY_LEVELS:
            raise bad_request("container_registry_access_level does not have a valid value")
        changes["registry_enabled"] = level != "disabled"
        changes["registry_private"] = level == "private"
    return changes


def _new_path(state: ApiState, principal: Principal, form: dict[str, Any]) -> str:
    name = form_value(form, "name")
    path = form_value(form, "path") or (str(name).strip().lower().replace(" ", "-") if name else None)
    if not path:
        raise bad_request("name, path are missing, at least one parameter must be provided")
    namespace_id = form_value(form, "namespace_id")
    if namespace_id is not None:
        group = find_group(state, principal, str(namespace_id)) if str(namespace_id).isdigit() else None
        if group is None:
            raise bad_request("namespace_id is invalid")
        return f"{group.path}/{path}"
    if not principal.name:
        raise bad_request("namespace_id is missing")
    return f"{principal.name}/{path}"


def register(api: Blueprint, state: ApiState) -> None:
    @api.get("/projects")
    async def list_projects() -> Response:
        principal = state.caller()
        require_scope(principal, write=False)
        return paged_list(request.base_url, request.args, _listed(state, principal))

    @api.get("/projects/<ident>")
    async def get_project(ident: str) -> Response:
        principal = state.caller()
        require_scope(principal, write=False)
        project = find_project(state, principal, ident)
        document = project_json(state, project.path, project.row)
        if request.args.get("statistics", "").lower() == "true":
            with state.registry.meta.read() as tx:  # kept current by every push and delete: no scan
                size = tx.usage_total("project", project.path)
            document["statistics"] = {"container_registry_size": size}
            document["container_registry_size_limit"] = project.row.get("size_limit")
        return json_response(document)

    @api.post("/projects")
    async def create_project() -> Response:
        principal = state.signed_in()
        require_scope(principal, write=True)
        form = await request_form()
        path = _new_path(state, principal, form)
        settings = _settings(form)
        require_create_project(state, principal, path)
        try:
            state.store.create_project(path, public=bool(settings.get("public")), owner=principal.name or None)
        except AccessError as exc:
            taken = "already exists" in str(exc)
            raise _invalid_path("has already been taken" if taken else str(exc)) from None
        if settings:
            state.store.update_project(path, **settings)
        row = state.store.project(path) or {}
        return json_response(project_json(state, path, row), 201)

    @api.route("/projects/<ident>/transfer", methods=["PUT", "POST"])  # GitLab documents PUT; POST is accepted too
    async def transfer_project(ident: str) -> Response:
        principal = state.signed_in()
        require_scope(principal, write=True)
        project = find_project(state, principal, ident)
        form = await request_form()
        namespace = new_namespace(state, principal, form_value(form, "namespace", required=True))
        moved = move_project(state, principal, project, f"{namespace}/{project.path.rpartition('/')[2]}")
        return json_response(project_json(state, moved.path, moved.row))

    @api.put("/projects/<ident>")
    async def update_project(ident: str) -> Response:
        principal = state.signed_in()
        project = find_project(state, principal, ident)
        require_manage(principal, project)
        form = await request_form()
        new_path = form_value(form, "path")
        if new_path is not None and str(new_path) != project.path.rpartition("/")[2]:  # a rename, images and all
            namespace = project.path.rpartition("/")[0]
            project = move_project(state, principal, project, f"{namespace}/{new_path}" if namespace else str(new_path))
        name = form_value(form, "name")
        if name is not None and str(name) != project_json(state, project.path, project.row)["name"]:
            state.store.set_display_name(project.path, str(name))
        changes = _settings(form)
        limit = _size_limit(principal, form)
        apply_expiration_policy(state, project.path, form)
        if changes:
            state.store.update_project(project.path, **changes)
        if limit is not None:
            state.store.set_size_limit(project.path, limit[0], use_default=limit[1])
        return json_response(project_json(state, project.path, state.store.project(project.path) or project.row))


def _size_limit(principal: Principal, form: dict[str, Any]) -> tuple[int | None, bool] | None:
    """`container_registry_size_limit` (a tinyreg addition: bytes, a size such as `5GB`, `none`, or
    `default`), for administrators only as GitLab's storage limits are; None when not asked for."""
    value = form_value(form, "container_registry_size_limit")
    if value is None:
        return None
    if not may_administer(principal):
        raise forbidden("only administrators set a project's size limit")
    text = str(value).strip()
    if text.lower() == "default":
        return None, True
    try:
        return parse_size(text), False
    except ValueError as error:
        raise bad_request(f"container_registry_size_limit: {error}") from None


def _invalid_path(message: str) -> ApiError:
    return ApiError(400, {"message": {"path": [message]}})


__all__ = ["FoundProject", "project_json", "register"]

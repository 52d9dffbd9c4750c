"""Container registry repositories: a project's, a group's, one by id, and deleting one."""

from __future__ import annotations

from typing import Any

from quart import Blueprint, Response, request

from tinyreg.access.policy import Principal, may_read_images
from tinyreg.http.api.context import ApiState, iso_time, origin_of_call
from tinyreg.http.api.errors import ApiError, bad_request, json_response, not_found
from tinyreg.http.api.lookup import (
    FoundProject,
    find_group,
    find_project,
    require_registry_delete,
    require_registry_read,
    require_scope,
)
from tinyreg.http.api.pagination import page_request, paged_response
from tinyreg.registry.catalogue import (
    CatalogueError,
    ListQuery,
    RepositorySummary,
    list_repositories,
    repository_summary,
    tag_infos,
)


def flag(name: str) -> bool:
    return request.args.get(name, "").lower() in ("true", "1")


def owner_path(state: ApiState, repo: str) -> str | None:
    """The path of the project that owns `repo` (None: no project does)."""
    access = state.store.project_access(repo, None)
    return access.path if access is not None else None


def repository_json(state: ApiState, summary: RepositorySummary, project: FoundProject) -> dict[str, Any]:
    """A repository as GitLab shows it; `tags`, `tags_count` and `size` when the request asks."""
    name = summary.name
    shown: dict[str, Any] = {
        "id": summary.id,
        "name": name[len(project.path) + 1 :],
        "path": name,
        "project_id": project.id,
        "location": f"{state.registry_host()}/{name}",
        "created_at": iso_time(summary.created),
        "cleanup_policy_started_at": None,
        "status": None,
    }
    if flag("tags_count"):
        shown["tags_count"] = summary.tags_count
    if flag("tags"):
        shown["tags"] = [tag_json(state, name, tag) for tag, _ in tag_infos(state.registry.meta, name)]
    if flag("size"):
        shown["size"] = summary.size
    return shown


def tag_json(state: ApiState, repo: str, tag: str) -> dict[str, Any]:
    return {"name": tag, "path": f"{repo}:{tag}", "location": f"{state.registry_host()}/{repo}:{tag}"}


def find_repository(state: ApiState, project: FoundProject, ident: str) -> str:
    """The name of the project's repository numbered `ident`; 404 Repository Not Found."""
    found = state.store.repository_by_id(int(ident)) if ident.isdigit() else None
    if found is None or owner_path(state, str(found["name"])) != project.path:
        raise not_found("Repository")
    return str(found["name"])


def _page_of(state: ApiState, principal: Principal, under: str, include: Any) -> Response:
    paging = page_request(request.args)
    try:
        query = ListQuery(page=paging.page, per_page=paging.per_page)
    except CatalogueError as exc:
        raise bad_request(str(exc)) from None
    listing = list_repositories(state.registry.meta, query, under=under, include=include)
    rows = []
    for summary in listing.items:
        owner = owner_path(state, summary.name)
        if owner is not None:
            rows.append(repository_json(state, summary, find_project(state, principal, owner)))
    return paged_response(request.base_url, request.args, paging, rows, listing.total)


def register(api: Blueprint, state: ApiState) -> None:
    @api.get("/projects/<ident>/registry/repositories")
    async def project_repositories(ident: str) -> Response:
        principal = state.caller()
        require_scope(principal, write=False)
        project = find_project(state, principal, ident)
        require_registry_read(principal, project)
        return _page_of(state, principal, project.path, lambda name: owner_path(state, name) == project.path)

    @api.get("/groups/<ident>/registry/repositories")
    async def group_repositories(ident: str) -> Response:
        principal = state.caller()
        require_scope(principal, write=False)
        group_path = find_group(state, principal, ident).path
        readable: dict[str, bool] = {}

        def include(name: str) -> bool:
            owner = owner_path(state, name)
            if owner is None:
                return False
            if owner not in readable:
                try:
                    readable[owner] = may_read_images(principal, find_project(state, principal, owner).access)
                except ApiError:  # a project the caller may not see
                    readable[owner] = False
            return readable[owner]

        return _page_of(state, principal, group_path, include)

    @api.get("/registry/repositories/<ident>")
    async def get_repository(ident: str) -> Response:
        principal = state.caller()
        require_scope(principal, write=False)
        found = state.store.repository_by_id(int(ident)) if ident.isdigit() else None
        owner = owner_path(state, str(found["name"])) if found is not None else None
        summary = repository_summary(state.registry.meta, str(found["name"])) if found is not None else None
        if owner is None or summary is None:
            raise not_found("Repository")
        project = find_project(state, principal, owner)
        require_registry_read(principal, project)
        return json_response(repository_json(state, summary, project))

    @api.delete("/projects/<ident>/registry/repositories/<repository_ident>")
    async def delete_repository(ident: str, repository_ident: str) -> Response:
        principal = state.signed_in()
        project = find_project(state, principal, ident)
        name = find_repository(state, project, repository_ident)
        require_registry_delete(principal, project)
        state.registry.manifests.delete_repository(name, origin_of_call(principal))
        return Response("", 202)

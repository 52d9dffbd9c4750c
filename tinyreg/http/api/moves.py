"""Moving projects and repositories through `/api/v4`.

* `PUT /projects/:id` with a new `path` renames the project (GitLab's way; `projects.py` calls
  `move_project` here), its images with it, which GitLab's registry refuses while a project has images.
* `PUT /projects/:id/transfer` (or POST; in `projects.py`) with `namespace` (a group's id or path, or the
  caller's user name, `new_namespace` here) moves it to another namespace, as GitLab's transfer does.
* `PUT /projects/:id/registry/repositories/:repository_id` (a tinyreg addition) renames one
  repository: `path` is its whole new path, in this project or another the caller maintains;
  `name` its new name below the same project (`""`: the project's own path).

The decisions are `policy.may_move_project` / `may_move_repository`; a refusal changes nothing
and says why (403 for rights, 400 otherwise). The ids stay: python-gitlab keeps working by id.
"""

from __future__ import annotations

from quart import Blueprint, Response

from tinyreg.access.moves import Mover, MoveRefused
from tinyreg.access.policy import Principal
from tinyreg.http.api.context import ApiState, form_value, origin_of_call, request_form
from tinyreg.http.api.errors import ApiError, bad_message, bad_request, forbidden, json_response, not_found
from tinyreg.http.api.lookup import FoundProject, find_project, require_scope
from tinyreg.http.api.repositories import find_repository, owner_path, repository_json
from tinyreg.registry.catalogue import repository_summary


def mover(state: ApiState) -> Mover:
    registry = state.registry
    return Mover(registry.meta, registry.accounting, registry.move_alias_days, registry.notifier)


def _refused(exc: MoveRefused) -> ApiError:
    return forbidden(str(exc)) if exc.forbidden else bad_message(str(exc))


def move_project(state: ApiState, principal: Principal, project: FoundProject, new: str) -> FoundProject:
    """Move `project` to `new` for the caller; the project as found at its new path."""
    try:
        mover(state).move_project(project.path, new, principal, origin_of_call(principal))
    except MoveRefused as exc:
        raise _refused(exc) from None
    return find_project(state, principal, new)


def new_namespace(state: ApiState, principal: Principal, value: object) -> str:
    """The path a `namespace` parameter names: a group by id or path, or the caller's own namespace."""
    text = str(value).strip()
    if text.isdigit():
        group = state.store.group_by_id(int(text))
        if group is None:
            raise not_found("Namespace")
        return str(group["path"])
    if text and (state.store.group(text) is not None or text == principal.name):
        return text
    raise not_found("Namespace")


def register(api: Blueprint, state: ApiState) -> None:
    @api.put("/projects/<ident>/registry/repositories/<repository_ident>")
    async def move_repository(ident: str, repository_ident: str) -> Response:
        principal = state.signed_in()
        require_scope(principal, write=True)
        project = find_project(state, principal, ident)
        old = find_repository(state, project, repository_ident)
        form = await request_form()
        path, name = form_value(form, "path"), form_value(form, "name")
        if path is None and name is None:
            raise bad_request("path, name are missing, at least one parameter must be provided")
        new = str(path) if path is not None else f"{project.path}/{name}".rstrip("/")
        try:
            mover(state).move_repository(old, new, principal, origin_of_call(principal))
        except MoveRefused as exc:
            raise _refused(exc) from None
        summary = repository_summary(state.registry.meta, new)
        owner = owner_path(state, new)
        if summary is None or owner is None:  # pragma: no cover - the move just made it
            raise not_found("Repository")
        return json_response(repository_json(state, summary, find_project(state, principal, owner)))

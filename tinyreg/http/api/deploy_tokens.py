"""`/projects/:id/deploy_tokens`: a project's deploy tokens, for those who manage the project.
The secret is in the answer to the POST only."""

from __future__ import annotations

from quart import Blueprint, Response, request

from tinyreg.http.api.context import ApiState
from tinyreg.http.api.errors import json_response, not_found
from tinyreg.http.api.lookup import find_project, require_manage
from tinyreg.http.api.pagination import paged_list
from tinyreg.http.api.tokens import create_token, token_json


def register(api: Blueprint, state: ApiState) -> None:
    @api.get("/projects/<ident>/deploy_tokens")
    async def list_deploy_tokens(ident: str) -> Response:
        principal = state.signed_in()
        project = find_project(state, principal, ident)
        require_manage(principal, project, write=False)
        records = [record for record in state.store.tokens(kind="deploy", owner=project.path) if not record.revoked]
        return paged_list(request.base_url, request.args, [token_json(state, record) for record in records])

    @api.post("/projects/<ident>/deploy_tokens")
    async def create_deploy_token(ident: str) -> Response:
        principal = state.signed_in()
        project = find_project(state, principal, ident)
        require_manage(principal, project)
        secret, record = await create_token(state, "deploy", project.path)
        return json_response(token_json(state, record, secret), 201)

    @api.delete("/projects/<ident>/deploy_tokens/<int:token_id>")
    async def revoke_deploy_token(ident: str, token_id: int) -> Response:
        principal = state.signed_in()
        project = find_project(state, principal, ident)
        require_manage(principal, project)
        record = state.store.token_by_id(token_id)
        if record is None or record.kind != "deploy" or record.owner != project.path or record.revoked:
            raise not_found("Deploy Token")
        state.store.revoke_token(token_id)
        return Response("", 204)

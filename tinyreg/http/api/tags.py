"""The tags of a project's repository: listed, shown, deleted one by one or in bulk by GitLab's
rules (`registry/tag_rules.py`)."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import unquote

from quart import Blueprint, Response, request

from tinyreg.access.policy import Principal
from tinyreg.http.api.context import ApiState, form_value, integer, iso_time, origin_of_call, request_form
from tinyreg.http.api.errors import bad_request, json_response, not_found
from tinyreg.http.api.lookup import find_project, require_registry_delete, require_registry_read, require_scope
from tinyreg.http.api.pagination import paged_list
from tinyreg.http.api.repositories import find_repository, tag_json
from tinyreg.registry.catalogue import TagDetail, tag_detail, tag_infos
from tinyreg.registry.errors import RegistryError
from tinyreg.registry.tag_rules import TagInfo, TagRuleError, TagRules, parse_older_than, select_tags

TAGS = "/projects/<ident>/registry/repositories/<repository_ident>/tags"


def tag_detail_json(state: ApiState, repo: str, detail: TagDetail) -> dict[str, Any]:
    """A tag as GitLab shows one: `revision` is the config's digest (the manifest's, for an index)."""
    revision = (detail.config_digest or detail.digest).partition(":")[2]
    return {
        **tag_json(state, repo, detail.name),
        "revision": revision,
        "short_revision": revision[:9],
        "digest": detail.digest,
        "created_at": iso_time(detail.pushed_at),
        "total_size": detail.total_size,
    }


async def _rules() -> TagRules:
    """The bulk deletion's parameters (query or body), checked as GitLab checks them."""
    form = await request_form()
    delete = form_value(form, "name_regex_delete")
    if delete is None:
        delete = form_value(form, "name_regex")
    if delete is None or delete == "":
        raise bad_request("name_regex_delete is missing")
    keep_n = form_value(form, "keep_n")
    older_than = form_value(form, "older_than")
    try:
        return TagRules(
            name_regex_delete=str(delete),
            name_regex_keep=form_value(form, "name_regex_keep"),
            keep_n=integer(keep_n, "keep_n") if keep_n not in (None, "") else None,
            older_than=parse_older_than(str(older_than)) if older_than not in (None, "") else None,
        )
    except TagRuleError as exc:
        raise bad_request(str(exc)) from None


def register(api: Blueprint, state: ApiState) -> None:
    def located(ident: str, repository_ident: str, *, delete: bool) -> tuple[str, Principal]:
        principal = state.caller() if not delete else state.signed_in()
        require_scope(principal, write=delete)
        project = find_project(state, principal, ident)
        repo = find_repository(state, project, repository_ident)
        (require_registry_delete if delete else require_registry_read)(principal, project)
        return repo, principal

    @api.get(TAGS)
    async def list_tags(ident: str, repository_ident: str) -> Response:
        repo, _ = located(ident, repository_ident, delete=False)
        rows = [tag_json(state, repo, name) for name, _ in tag_infos(state.registry.meta, repo)]
        return paged_list(request.base_url, request.args, rows)

    @api.get(TAGS + "/<tag_name>")
    async def get_tag(ident: str, repository_ident: str, tag_name: str) -> Response:
        repo, _ = located(ident, repository_ident, delete=False)
        detail = tag_detail(state.registry.meta, repo, unquote(tag_name))
        if detail is None:
            raise not_found("Tag")
        return json_response(tag_detail_json(state, repo, detail))

    @api.delete(TAGS + "/<tag_name>")
    async def delete_tag(ident: str, repository_ident: str, tag_name: str) -> Response:
        repo, principal = located(ident, repository_ident, delete=True)
        try:
            state.registry.manifests.delete_tag(repo, unquote(tag_name), origin_of_call(principal))
        except RegistryError:
            raise not_found("Tag") from None
        return Response("", 200)

    @api.delete(TAGS)
    async def delete_tags_in_bulk(ident: str, repository_ident: str) -> Response:
        repo, principal = located(ident, repository_ident, delete=True)
        rules = await _rules()
        tags = [TagInfo(name, pushed_at) for name, pushed_at in tag_infos(state.registry.meta, repo)]
        try:
            selection = select_tags(tags, rules, time.time())
        except TagRuleError as exc:
            raise bad_request(str(exc)) from None
        state.registry.manifests.delete_tags(repo, selection.delete, origin_of_call(principal))
        return Response("", 202)

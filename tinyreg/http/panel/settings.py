"""A project's settings, for its maintainers and owners (and admins): visibility, the registry
switch, members and their roles, deploy tokens (a new token's secret is shown once); its
webhooks are added and deleted in `hooks.py`."""

from __future__ import annotations

import calendar
import time
from typing import Any

from quart import Blueprint, Response, request

from tinyreg.access import policy
from tinyreg.access.policy import DEPLOY_SCOPES, ROLES
from tinyreg.access.store import AccessError
from tinyreg.http.panel.base import Panel, go, refuse, render, viewer
from tinyreg.http.panel.registry import Place, find_project
from tinyreg.registry.accounting import project_usage
from tinyreg.registry.cleanup import policy_of, set_policy
from tinyreg.registry.cleanup_policy import CADENCES, DEFAULT_POLICY, KEEP_N, OLDER_THAN, PolicyError
from tinyreg.registry.events import ACTIONS
from tinyreg.registry.project_hooks import list_hooks
from tinyreg.registry.usage import WARNING_SHARE, human_size, parse_size


def expiry(value: str | None) -> float | None:
    """A token's expiry from a date field (`YYYY-MM-DD`, the start of that day in UTC); None if empty."""
    if not value:
        return None
    try:
        moment = float(calendar.timegm(time.strptime(value, "%Y-%m-%d")))
    except ValueError:
        refuse(400, "Not created", f"{value!r} is not a date (YYYY-MM-DD).")
    if moment <= time.time():
        refuse(400, "Not created", "The expiry date must be in the future.")
    return moment


def chosen_scopes(form: Any, allowed: frozenset[str] | None = None) -> list[str]:
    """The token scopes ticked in a form, among the known ones (and `allowed`, if given)."""
    scopes = [scope for scope in form.getlist("scopes") if scope in policy.SCOPES]
    if allowed is not None and not set(scopes) <= allowed:
        refuse(403, "Not created", "A token made while signed in with a token may only have that token's scopes.")
    return scopes


def managed_project(panel: Panel, path: str) -> Place:
    """The project, if the viewer may manage it (a 403 page for members who may not)."""
    panel.require_users()
    place = find_project(panel, path, viewer())
    if place.access is None or not place.may_manage:
        refuse(403, "Not allowed", f"Only maintainers and owners of {path} (and admins) may change its settings.")
    return place


async def settings_page(panel: Panel, place: Place, *, status: int = 200, new_token: Any = None, problem: str = "") -> Response:
    store = panel.store
    tokens = [token for token in store.tokens(kind="deploy", owner=place.path)]
    users = sorted(user["name"] for user in store.users())
    registry = panel.context.registry
    with registry.meta.read() as tx:
        usage = project_usage(tx, place.path, tx.project(place.path), registry.accounting.default_limit)
    limit = usage["limit"]
    return await render(
        "settings.html",
        status=status,
        place=place,
        members=sorted(store.members(place.path).items()),
        roles=ROLES,
        scopes=list(DEPLOY_SCOPES),
        tokens=tokens,
        users=users,
        new_token=new_token,
        problem=problem,
        saved=request.args.get("saved", ""),
        now=time.time(),
        used=human_size(usage["usage"]),
        limit=None if limit is None else human_size(limit),
        percent=usage["percent"],
        near_limit=limit is not None and usage["usage"] >= WARNING_SHARE * limit,
        may_set_limit=viewer().may_administer,
        policy=policy_of(registry.meta, place.path) or DEFAULT_POLICY,
        cadences=list(CADENCES),
        keep_ns=KEEP_N,
        older_thans=OLDER_THAN,
        hooks=list_hooks(registry.meta, place.path),
        hook_actions=ACTIONS,
        alias_days=registry.move_alias_days,
    )


def add_routes(pages: Blueprint, panel: Panel) -> None:
    @pages.get("/<path:path>/-/settings")
    async def project_settings(path: str) -> Response:
        return await settings_page(panel, managed_project(panel, path))

    @pages.post("/<path:path>/-/settings/general")
    async def general(path: str) -> Response:
        place = managed_project(panel, path)
        form = await request.form
        public = form.get("visibility") == "public"
        enabled = form.get("registry") == "on"
        panel.store.update_project(place.path, public=public, registry_enabled=enabled)
        return go(f"/{path}/-/settings?saved=general", 303)

    @pages.post("/<path:path>/-/settings/size_limit")
    async def size_limit(path: str) -> Response:
        place = managed_project(panel, path)
        if not viewer().may_administer:  # as in GitLab, limits are the administrators' to set
            refuse(403, "Not allowed", "Only administrators set a project's size limit.")
        text = (await request.form).get("size_limit", "").strip()
        if text.lower() in ("", "default"):
            panel.store.set_size_limit(place.path, None, use_default=True)
        else:
            try:
                panel.store.set_size_limit(place.path, parse_size(text))
            except ValueError as error:
                return await settings_page(panel, place, status=400, problem=f"Size limit: {error}")
        return go(f"/{path}/-/settings?saved=storage#storage", 303)

    @pages.post("/<path:path>/-/settings/cleanup_policy")
    async def cleanup_policy(path: str) -> Response:
        place = managed_project(panel, path)
        form = await request.form
        changes = {
            "enabled": form.get("enabled") == "on",
            "cadence": form.get("cadence", ""),
            "keep_n": form.get("keep_n", ""),
            "older_than": form.get("older_than", ""),
            "name_regex": form.get("name_regex", ""),
            "name_regex_keep": form.get("name_regex_keep", ""),
        }
        try:
            set_policy(panel.context.registry.meta, place.path, changes)
        except PolicyError as error:  # the form is shown again with the reason; nothing is stored
            return await settings_page(panel, place, status=400, problem=f"Cleanup policy: {error}")
        return go(f"/{path}/-/settings?saved=cleanup#cleanup", 303)

    @pages.post("/<path:path>/-/settings/members")
    async def member(path: str) -> Response:
        place = managed_project(panel, path)
        form = await request.form
        role = form.get("role") or None
        if form.get("remove"):
            role = None
        try:
            panel.store.set_member(place.path, form.get("user", "").strip(), role)
        except AccessError as error:
            return await settings_page(panel, place, status=400, problem=str(error))
        return go(f"/{path}/-/settings?saved=members#members", 303)

    @pages.post("/<path:path>/-/settings/deploy_tokens")
    async def create_deploy_token(path: str) -> Response:
        place = managed_project(panel, path)
        form = await request.form
        name = form.get("name", "").strip() or "deploy token"
        try:
            secret, record = panel.store.create_token(
                "deploy", place.path, name, chosen_scopes(form), expiry(form.get("expires"))
            )
        except AccessError as error:
            return await settings_page(panel, place, status=400, problem=str(error))
        return await settings_page(panel, place, new_token=(record, secret))

    @pages.post("/<path:path>/-/settings/deploy_tokens/<int:token_id>/revoke")
    async def revoke_deploy_token(path: str, token_id: int) -> Response:
        place = managed_project(panel, path)
        record = panel.store.token_by_id(token_id)
        if record is None or record.kind != "deploy" or record.owner != place.path:
            refuse(404, "Not found", f"Project {path} has no deploy token {token_id}.")
        panel.store.revoke_token(token_id)
        return go(f"/{path}/-/settings?saved=tokens#deploy-tokens", 303)

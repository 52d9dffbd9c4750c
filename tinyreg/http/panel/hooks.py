"""A project's webhooks on its settings page: add one (URL, secret token, TLS check, which
actions), list them, delete one. The secret is written, never shown again."""

from __future__ import annotations

from quart import Blueprint, Response, request

from tinyreg.http.panel.base import Panel, go, refuse
from tinyreg.http.panel.settings import managed_project, settings_page
from tinyreg.registry.events import ACTIONS
from tinyreg.registry.project_hooks import HookError, create_hook, delete_hook


def add_routes(pages: Blueprint, panel: Panel) -> None:
    @pages.post("/<path:path>/-/settings/hooks")
    async def add_hook(path: str) -> Response:
        place = managed_project(panel, path)
        form = await request.form
        changes = {
            "url": form.get("url", "").strip(),
            "token": form.get("token", ""),
            "enable_ssl_verification": form.get("enable_ssl_verification") == "on",
            "registry_actions": [action for action in form.getlist("registry_actions") if action in ACTIONS],
        }
        try:
            create_hook(panel.context.registry.meta, place.path, changes)
        except HookError as error:  # the page again with the reason; nothing is stored
            return await settings_page(panel, place, status=400, problem=f"Webhook: {error}")
        panel.context.registry.notifier.look_for_hooks()
        return go(f"/{path}/-/settings?saved=hooks#hooks", 303)

    @pages.post("/<path:path>/-/settings/hooks/<int:hook_id>/delete")
    async def remove_hook(path: str, hook_id: int) -> Response:
        place = managed_project(panel, path)
        if not delete_hook(panel.context.registry.meta, place.path, hook_id):
            refuse(404, "Not found", f"Project {path} has no webhook {hook_id}.")
        panel.context.registry.notifier.look_for_hooks()
        return go(f"/{path}/-/settings?saved=hooks#hooks", 303)

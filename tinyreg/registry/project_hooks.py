"""Projects' webhooks (GitLab's `/projects/:id/hooks`): where a project's registry events go.

A hook has GitLab's `url`, `token` (sent as `X-Gitlab-Token`, never shown again) and
`enable_ssl_verification`, plus tinyreg's `registry_actions`: which of push, pull, delete, mount
and move it hears of (all but pull unless told). Deleting a hook deletes its queue of
events in the same unit of work. Who may do this is decided above (the access policy).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from tinyreg.registry.notification_settings import DEFAULT_HOOK_ACTIONS, check_hook_actions, check_url, hook_queue
from tinyreg.storage.interfaces import MetaStore, MetaWriter

HOOK_COUNTER = "project_hook"
FIELDS = ("url", "token", "enable_ssl_verification", "registry_actions")
_TRUE, _FALSE = ("true", "1", "yes", "on"), ("false", "0", "no", "off", "")


class HookError(ValueError):
    """A hook value that cannot be used; `field` names it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field} {message}")
        self.field = field


def _flag(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE + _FALSE:
        return value.strip().lower() in _TRUE
    raise HookError("enable_ssl_verification", "must be true or false")


def hook_row(old: Mapping[str, Any] | None, changes: Mapping[str, Any], now: float) -> dict[str, Any]:
    """The hook `old` with `changes` (a new one when `old` is None), checked; HookError names a bad field."""
    row: dict[str, Any] = dict(old) if old is not None else {"token": "", "enable_ssl_verification": True, "created": now}
    row.setdefault("registry_actions", list(DEFAULT_HOOK_ACTIONS))
    for name, value in changes.items():
        if name not in FIELDS or value is None:
            continue
        if name == "url":
            if (problem := check_url(value)) is not None:
                raise HookError("url", problem)
            row["url"] = value
        elif name == "token":
            if not isinstance(value, str):
                raise HookError("token", "must be a string")
            row["token"] = value
        elif name == "enable_ssl_verification":
            row[name] = _flag(value)
        else:
            try:
                row[name] = list(check_hook_actions(value))
            except ValueError as exc:
                raise HookError(name, str(exc).removeprefix(name + " ")) from None
    if "url" not in row:
        raise HookError("url", "is missing")
    return row


def list_hooks(meta: MetaStore, path: str) -> list[tuple[int, dict[str, Any]]]:
    with meta.read() as tx:
        return list(tx.project_hooks(path))


def get_hook(meta: MetaStore, path: str, hook_id: int) -> dict[str, Any] | None:
    with meta.read() as tx:
        return tx.project_hook(path, hook_id)


def create_hook(meta: MetaStore, path: str, changes: Mapping[str, Any]) -> tuple[int, dict[str, Any]]:
    row = hook_row(None, changes, time.time())

    def change(tx: MetaWriter) -> tuple[int, dict[str, Any]]:
        hook_id = tx.next_counter(HOOK_COUNTER)
        tx.put_project_hook(path, hook_id, row)
        return hook_id, row

    return meta.write(change)


def update_hook(meta: MetaStore, path: str, hook_id: int, changes: Mapping[str, Any]) -> dict[str, Any] | None:
    """The hook changed, or None when the project has no such hook."""

    def change(tx: MetaWriter) -> dict[str, Any] | None:
        old = tx.project_hook(path, hook_id)
        if old is None:
            return None
        row = hook_row(old, changes, time.time())
        tx.put_project_hook(path, hook_id, row)
        return row

    return meta.write(change)


def delete_hook(meta: MetaStore, path: str, hook_id: int) -> bool:
    """Delete the hook and the events still waiting for it; False when there is no such hook."""

    def change(tx: MetaWriter) -> bool:
        if not tx.delete_project_hook(path, hook_id):
            return False
        tx.delete_event_queue(hook_queue(hook_id))
        return True

    return meta.write(change)

"""A project's `container_expiration_policy` in GitLab's shape, and its
`container_expiration_policy_attributes` on `PUT /projects/:id`."""

from __future__ import annotations

from typing import Any

from tinyreg.http.api.context import ApiState, iso_time
from tinyreg.http.api.errors import bad_request
from tinyreg.registry.cleanup import set_policy
from tinyreg.registry.cleanup_policy import DEFAULT_POLICY, FIELDS, PolicyError

ATTRIBUTES = "container_expiration_policy_attributes"


def expiration_policy_json(row: dict[str, Any] | None) -> dict[str, Any]:
    policy = {**DEFAULT_POLICY, **(row or {})}
    shown = {name: policy[name] for name in FIELDS}
    return {**shown, "next_run_at": iso_time(policy["next_run_at"])}


def stored_policy(state: ApiState, path: str) -> dict[str, Any]:
    with state.store.meta.read() as tx:
        return expiration_policy_json(tx.cleanup_policy(path))


def apply_expiration_policy(state: ApiState, path: str, form: dict[str, Any]) -> None:
    """Store the policy changes a `PUT /projects/:id` body asks for; 400 naming a bad value."""
    attributes = form.get(ATTRIBUTES)
    if attributes is None:
        return
    if not isinstance(attributes, dict):
        raise bad_request(f"{ATTRIBUTES} is invalid")
    changes = {name: value for name, value in attributes.items() if name != "next_run_at"}  # computed, not set
    try:
        set_policy(state.store.meta, path, changes)
    except PolicyError as exc:
        raise bad_request(f"{ATTRIBUTES}[{exc.field}] {str(exc).removeprefix(exc.field + ' ')}") from None

"""The Docker token scope grammar: `repository:<name>:<action>[,<action>...]` (pure)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tinyreg.registry.names import is_valid_name


@dataclass(frozen=True, slots=True)
class ScopeRequest:
    """One resource and the actions asked on it."""

    type: str
    name: str
    actions: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.type}:{self.name}:{','.join(self.actions)}"


MAX_SCOPES = 64
"""Distinct scopes one token may be asked for: each costs a lookup and a claim in the token."""


class TooManyScopes(ValueError):
    """More distinct scopes than `MAX_SCOPES` in one token request."""


def parse_scopes(values: list[str]) -> list[ScopeRequest]:
    """Parse `scope` parameters (each may hold several space-separated scopes); skip malformed ones.

    Repeated scopes count once; more than `MAX_SCOPES` distinct ones raise TooManyScopes.
    """
    found: dict[ScopeRequest, None] = {}
    for value in values:
        for item in value.split():
            head, sep, actions = item.rpartition(":")
            kind, sep2, name = head.partition(":")
            if not sep or not sep2 or not name:
                continue
            kind = kind.split("(", 1)[0]  # "repository(plugin)" is a repository
            if kind == "repository" and not is_valid_name(name):
                continue
            found[ScopeRequest(kind, name, tuple(a for a in actions.split(",") if a))] = None
            if len(found) > MAX_SCOPES:
                raise TooManyScopes(f"at most {MAX_SCOPES} scopes may be asked for one token")
    return list(found)


def token_actions(access: list[Any], repo: str) -> frozenset[str]:
    """The actions a token's `access` claim grants on repository `repo`."""
    granted: set[str] = set()
    for entry in access:
        if isinstance(entry, dict) and entry.get("type") == "repository" and entry.get("name") == repo:
            actions = entry.get("actions")
            granted |= set(actions) if isinstance(actions, list) else set()
    return frozenset(granted)


def grants_catalog(access: list[Any] | None) -> bool:
    """Whether a token's `access` claim lets its holder list the catalog.

    A token asked for no scope at all lists too: containers/image (`podman search`) asks /token
    for exactly that and sends it to `/v2/_catalog`. Such a token opens no repository, and the
    listing shows only names its subject may pull anyway.
    """
    return (
        access == []
        or access is not None
        and any(
            isinstance(entry, dict)
            and entry.get("type") == "registry"
            and entry.get("name") == "catalog"
            and isinstance(entry.get("actions"), list)
            and "*" in entry["actions"]
            for entry in access
        )
    )

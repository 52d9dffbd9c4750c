"""The Docker token scope grammar: `repository:<name>:<action>[,<action>...]` (pure)."""

from __future__ import annotations

from dataclasses import dataclass

from tinyreg.registry.names import is_valid_name


@dataclass(frozen=True, slots=True)
class ScopeRequest:
    """One resource and the actions asked on it."""

    type: str
    name: str
    actions: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.type}:{self.name}:{','.join(self.actions)}"


def parse_scopes(values: list[str]) -> list[ScopeRequest]:
    """Parse `scope` parameters (each may hold several space-separated scopes); skip malformed ones."""
    found = []
    for value in values:
        for item in value.split():
            head, sep, actions = item.rpartition(":")
            kind, sep2, name = head.partition(":")
            if not sep or not sep2 or not name:
                continue
            kind = kind.split("(", 1)[0]  # "repository(plugin)" is a repository
            if kind == "repository" and not is_valid_name(name):
                continue
            found.append(ScopeRequest(kind, name, tuple(a for a in actions.split(",") if a)))
    return found

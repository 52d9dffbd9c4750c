"""A project's cleanup policy as GitLab has it: the allowed values, defaults, and when it runs.

Pure rules: no storage, no clock (the caller hands in `now`). A policy row holds

* `enabled` (bool), `cadence` (`1d`, `7d`, `14d`, `1month`, `3month`),
* `keep_n` (1, 5, 10, 25, 50, 100, or None: no count rule),
* `older_than` (`7d`, `14d`, `30d`, `90d`, or None: no age rule),
* `name_regex` (the tags it may remove; None or empty removes nothing) and `name_regex_keep`
  (tags it never removes), both anchored at both ends,
* `next_run_at` (epoch seconds, None while disabled).

Which tags a run removes is `tinyreg.registry.tag_rules.select_tags`, the same rules as the
API's bulk tag deletion.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tinyreg.registry.tag_rules import TagRuleError, TagRules, compile_pattern, parse_older_than

CADENCES = {"1d": 86400.0, "7d": 7 * 86400.0, "14d": 14 * 86400.0, "1month": 30 * 86400.0, "3month": 90 * 86400.0}
KEEP_N = (1, 5, 10, 25, 50, 100)
OLDER_THAN = ("7d", "14d", "30d", "90d")
FIELDS = ("enabled", "cadence", "keep_n", "older_than", "name_regex", "name_regex_keep")
#: GitLab's defaults for a project that never had a policy.
DEFAULT_POLICY: dict[str, Any] = {
    "enabled": False,
    "cadence": "1d",
    "keep_n": 10,
    "older_than": "90d",
    "name_regex": ".*",
    "name_regex_keep": None,
    "next_run_at": None,
}
_TRUE = ("true", "1", "yes", "on")
_FALSE = ("false", "0", "no", "off")


class PolicyError(ValueError):
    """A value a policy cannot take; `field` names the parameter."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field} {message}")
        self.field = field


def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text not in _TRUE + _FALSE:
        raise PolicyError("enabled", "must be true or false")
    return text in _TRUE


def _keep_n(value: Any) -> int | None:
    if value is None or value == "":
        return None
    try:
        number = int(value) if not isinstance(value, bool) else -1
    except (TypeError, ValueError):
        number = -1
    if number not in KEEP_N:
        raise PolicyError("keep_n", f"must be one of {', '.join(map(str, KEEP_N))}")
    return number


def _choice(field: str, value: Any, allowed: tuple[str, ...]) -> str | None:
    if value is None or value == "":
        if field == "cadence":
            raise PolicyError(field, f"must be one of {', '.join(allowed)}")
        return None
    if str(value) not in allowed:
        raise PolicyError(field, f"must be one of {', '.join(allowed)}")
    return str(value)


def _pattern(field: str, value: Any) -> str | None:
    if value is None or value == "":
        return None
    try:
        compile_pattern(str(value), field)
    except TagRuleError as exc:
        raise PolicyError(field, str(exc).removeprefix(f"{field} ")) from None
    return str(value)


def validate_policy(current: Mapping[str, Any] | None, changes: Mapping[str, Any], now: float) -> dict[str, Any]:
    """The policy `current` (None: the defaults) with `changes` applied; PolicyError names the first bad value.

    `next_run_at` is scheduled one cadence ahead when the policy becomes enabled or its cadence
    changes, and cleared when it is disabled (as GitLab does)."""
    unknown = sorted(set(changes) - set(FIELDS))
    if unknown:
        raise PolicyError(unknown[0], "is not a cleanup policy setting")
    row = {**DEFAULT_POLICY, **(current or {})}
    was_enabled, old_cadence = bool(row["enabled"]), row["cadence"]
    for field, value in changes.items():
        if field == "enabled":
            row[field] = _boolean(value)
        elif field == "keep_n":
            row[field] = _keep_n(value)
        elif field == "cadence":
            row[field] = _choice(field, value, tuple(CADENCES))
        elif field == "older_than":
            row[field] = _choice(field, value, OLDER_THAN)
        else:
            row[field] = _pattern(field, value)
    if not row["enabled"]:
        row["next_run_at"] = None
    elif not was_enabled or row["cadence"] != old_cadence or row["next_run_at"] is None:
        row["next_run_at"] = now + CADENCES[row["cadence"]]
    return row


def tag_rules(row: Mapping[str, Any]) -> TagRules:
    """The tag-selection rules of a policy row (no name_regex: nothing matches, nothing is removed)."""
    older = row.get("older_than")
    return TagRules(
        name_regex_delete=row.get("name_regex") or None,
        name_regex_keep=row.get("name_regex_keep") or None,
        keep_n=row.get("keep_n"),
        older_than=parse_older_than(older) if older else None,
    )


def due_at(row: Mapping[str, Any], cadence_seconds: float | None = None) -> float | None:
    """When an enabled policy next runs (None: never). `cadence_seconds` shortens every cadence
    to that many seconds (for tests and trials): the run is due that long after it was scheduled."""
    if not row.get("enabled") or row.get("next_run_at") is None:
        return None
    next_run = float(row["next_run_at"])
    if cadence_seconds is None:
        return next_run
    return next_run - CADENCES[row["cadence"]] + cadence_seconds


def after_run(row: Mapping[str, Any], now: float) -> dict[str, Any]:
    """The row once a run finished at `now`: the next one a cadence later."""
    return {**row, "next_run_at": now + CADENCES[row["cadence"]]}

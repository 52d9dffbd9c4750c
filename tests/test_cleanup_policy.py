"""Cleanup policies' allowed values, defaults and schedule, table by table (pure: no registry)."""

from __future__ import annotations

from typing import Any

import pytest
from tinyreg.registry.cleanup_policy import (
    CADENCES,
    DEFAULT_POLICY,
    PolicyError,
    after_run,
    due_at,
    tag_rules,
    validate_policy,
)
from tinyreg.registry.tag_rules import TagRules

NOW = 1_000_000.0
DAY = 86400.0


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({}, {}),
        ({"keep_n": 5}, {"keep_n": 5}),
        ({"keep_n": "25"}, {"keep_n": 25}),
        ({"keep_n": None}, {"keep_n": None}),
        ({"older_than": "14d"}, {"older_than": "14d"}),
        ({"older_than": None}, {"older_than": None}),
        ({"cadence": "3month"}, {"cadence": "3month"}),
        ({"name_regex": "v.*"}, {"name_regex": "v.*"}),
        ({"name_regex": ""}, {"name_regex": None}),
        ({"name_regex_keep": "stable-.+"}, {"name_regex_keep": "stable-.+"}),
        ({"enabled": "false"}, {"enabled": False}),
        ({"enabled": True}, {"enabled": True, "next_run_at": NOW + DAY}),
        ({"enabled": "true", "cadence": "7d"}, {"enabled": True, "cadence": "7d", "next_run_at": NOW + 7 * DAY}),
        ({"enabled": True, "cadence": "1month"}, {"enabled": True, "cadence": "1month", "next_run_at": NOW + 30 * DAY}),
    ],
)
def test_allowed_values_are_stored(changes: dict[str, Any], expected: dict[str, Any]) -> None:
    assert validate_policy(None, changes, NOW) == {**DEFAULT_POLICY, **expected}


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"keep_n": 3}, "keep_n"),
        ({"keep_n": 0}, "keep_n"),
        ({"keep_n": "ten"}, "keep_n"),
        ({"keep_n": True}, "keep_n"),
        ({"older_than": "1d"}, "older_than"),
        ({"older_than": "2 weeks"}, "older_than"),
        ({"cadence": "2d"}, "cadence"),
        ({"cadence": None}, "cadence"),
        ({"enabled": "maybe"}, "enabled"),
        ({"name_regex": "(unclosed"}, "name_regex"),
        ({"name_regex_keep": "[z-a]"}, "name_regex_keep"),
        ({"keep_latest": True}, "keep_latest"),
    ],
)
def test_other_values_are_refused_naming_the_field(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(PolicyError) as caught:
        validate_policy(None, changes, NOW)
    assert caught.value.field == field and str(caught.value).startswith(field + " ")


def test_the_schedule_moves_only_when_enabled_or_the_cadence_changes() -> None:
    enabled = validate_policy(None, {"enabled": True}, NOW)
    assert validate_policy(enabled, {"keep_n": 50}, NOW + 100)["next_run_at"] == NOW + DAY
    assert validate_policy(enabled, {"cadence": "14d"}, NOW + 100)["next_run_at"] == NOW + 100 + 14 * DAY
    assert validate_policy(enabled, {"enabled": False}, NOW)["next_run_at"] is None
    assert after_run(enabled, NOW + 5)["next_run_at"] == NOW + 5 + DAY


@pytest.mark.parametrize(
    ("row", "cadence_seconds", "expected"),
    [
        ({"enabled": False, "cadence": "1d", "next_run_at": NOW}, None, None),
        ({"enabled": True, "cadence": "1d", "next_run_at": None}, None, None),
        ({"enabled": True, "cadence": "1d", "next_run_at": NOW}, None, NOW),
        ({"enabled": True, "cadence": "1d", "next_run_at": NOW}, 5.0, NOW - DAY + 5),
        ({"enabled": True, "cadence": "3month", "next_run_at": NOW}, 5.0, NOW - CADENCES["3month"] + 5),
    ],
)
def test_a_policy_is_due_a_cadence_after_it_was_scheduled(
    row: dict[str, Any], cadence_seconds: float | None, expected: float | None
) -> None:
    assert due_at(row, cadence_seconds) == expected


@pytest.mark.parametrize(
    ("row", "rules"),
    [
        (DEFAULT_POLICY, TagRules(".*", None, 10, 90 * DAY)),
        ({**DEFAULT_POLICY, "name_regex": None, "keep_n": None, "older_than": None}, TagRules(None, None, None, None)),
        ({**DEFAULT_POLICY, "name_regex_keep": "v.*", "older_than": "7d"}, TagRules(".*", "v.*", 10, 7 * DAY)),
    ],
)
def test_a_policy_selects_tags_with_the_bulk_deletion_rules(row: dict[str, Any], rules: TagRules) -> None:
    assert tag_rules(row) == rules

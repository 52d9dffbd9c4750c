"""GitLab's bulk tag deletion rules, table by table (pure: no registry)."""

from __future__ import annotations

import pytest
from tinyreg.registry.tag_rules import (
    KEPT_BY_COUNT,
    KEPT_BY_REGEX,
    KEPT_LATEST,
    KEPT_NOT_MATCHED,
    KEPT_UNKNOWN_AGE,
    KEPT_YOUNG,
    TagInfo,
    TagRuleError,
    TagRules,
    parse_older_than,
    select_tags,
)

NOW = 1_000_000.0
HOUR = 3600.0
DAY = 86400.0
# name → pushed this long ago (None: not recorded)
AGES: dict[str, float | None] = {
    "latest": 0,
    "v1.0": 10 * DAY,
    "v1.1": 5 * DAY,
    "v2.0": 2 * HOUR,
    "main": 1 * HOUR,
    "feature-x": 3 * DAY,
    "old": None,
}
TAGS = [TagInfo(name, None if age is None else NOW - age) for name, age in AGES.items()]


@pytest.mark.parametrize(
    ("rules", "deleted"),
    [
        (TagRules(), []),
        (TagRules(name_regex_delete=".*"), ["main", "v2.0", "feature-x", "v1.1", "v1.0", "old"]),
        (TagRules(name_regex_delete="v1"), []),  # anchored: matches no whole name
        (TagRules(name_regex_delete="v1.*"), ["v1.1", "v1.0"]),
        (TagRules(name_regex_delete="latest|main"), ["main"]),
        (TagRules(name_regex_delete=".*", name_regex_keep="v.*"), ["main", "feature-x", "old"]),
        (TagRules(name_regex_delete=".*", name_regex_keep=""), ["main", "v2.0", "feature-x", "v1.1", "v1.0", "old"]),
        (TagRules(name_regex_delete=".*", keep_n=2), ["feature-x", "v1.1", "v1.0", "old"]),
        (TagRules(name_regex_delete=".*", keep_n=0), ["main", "v2.0", "feature-x", "v1.1", "v1.0", "old"]),
        (TagRules(name_regex_delete=".*", keep_n=100), []),
        (TagRules(name_regex_delete=".*", older_than=4 * DAY), ["v1.1", "v1.0"]),
        (TagRules(name_regex_delete=".*", older_than=HOUR / 2), ["main", "v2.0", "feature-x", "v1.1", "v1.0"]),
        (TagRules(name_regex_delete=".*", keep_n=3, older_than=HOUR), ["v1.1", "v1.0"]),
        (TagRules(name_regex_delete="v.*", name_regex_keep="v1\\.0", keep_n=1, older_than=HOUR), ["v1.1"]),
        (TagRules(name_regex_delete="V1.*"), []),  # case matters, as in GitLab
    ],
)
def test_bulk_deletion_selects_what_gitlab_selects(rules: TagRules, deleted: list[str]) -> None:
    selection = select_tags(TAGS, rules, NOW)
    assert selection.delete == deleted
    assert set(selection.kept) | set(deleted) == set(AGES) and not set(selection.kept) & set(deleted)


@pytest.mark.parametrize(
    ("rules", "reasons"),
    [
        (TagRules(name_regex_delete=".*"), {"latest": KEPT_LATEST}),
        (TagRules(name_regex_delete="v.*"), {"latest": KEPT_LATEST, "main": KEPT_NOT_MATCHED, "old": KEPT_NOT_MATCHED}),
        (TagRules(name_regex_delete="m.*|o.*", name_regex_keep="main"), {"main": KEPT_BY_REGEX}),
        (TagRules(name_regex_delete=".*", keep_n=1), {"main": KEPT_BY_COUNT}),
        (TagRules(name_regex_delete=".*", older_than=4 * DAY), {"main": KEPT_YOUNG, "old": KEPT_UNKNOWN_AGE}),
    ],
)
def test_each_kept_tag_says_why(rules: TagRules, reasons: dict[str, str]) -> None:
    kept = select_tags(TAGS, rules, NOW).kept
    for name, reason in reasons.items():
        assert kept[name] == reason


def test_equal_push_times_are_ordered_by_name_for_keep_n() -> None:
    tags = [TagInfo(name, 5.0) for name in ("c", "a", "b")]
    assert select_tags(tags, TagRules(name_regex_delete=".*", keep_n=1), NOW).delete == ["b", "c"]


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        (TagRules(name_regex_delete="("), "name_regex_delete is an invalid regexp"),
        (TagRules(name_regex_delete=".*", name_regex_keep="[a-"), "name_regex_keep is an invalid regexp"),
        (TagRules(name_regex_delete=".*", keep_n=-1), "keep_n must not be negative"),
    ],
)
def test_rules_that_cannot_apply_are_refused_with_a_reason(rules: TagRules, message: str) -> None:
    with pytest.raises(TagRuleError, match=message.replace("(", r"\(")):
        select_tags(TAGS, rules, NOW)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("1h", HOUR),
        ("7d", 7 * DAY),
        ("1month", 30 * DAY),
        ("2months", 60 * DAY),
        ("2 days", 2 * DAY),
        ("1d 12h", 1.5 * DAY),
        ("1 day and 2 hours", DAY + 2 * HOUR),
        ("90s", 90),
        ("30m", 30 * 60),
        ("15min", 15 * 60),
        ("1w", 7 * DAY),
        ("1y", 365 * DAY),
        (" 3 HOURS ", 3 * HOUR),
    ],
)
def test_gitlab_durations_parse(text: str, seconds: float) -> None:
    assert parse_older_than(text) == seconds


@pytest.mark.parametrize("text", ["", "h", "1", "1 fortnight", "-1d", "1d x", "1.d"])
def test_other_durations_are_refused(text: str) -> None:
    with pytest.raises(TagRuleError):
        parse_older_than(text)

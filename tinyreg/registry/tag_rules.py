"""Which tags a bulk deletion removes: GitLab's rules, as one pure function.

GitLab's `DELETE /projects/:id/registry/repositories/:repository_id/tags` (and its cleanup
policies, which reuse the same rules) select tags in this order:

1. `latest` is never removed;
2. a tag is a candidate if its name matches `name_regex_delete` and not `name_regex_keep`
   (both anchored at both ends, as RE2's full match);
3. of the candidates, the `keep_n` most recently pushed are kept;
4. of the rest, only those pushed before `older_than` ago are removed.

Nothing here knows about HTTP or storage: the API and a cleanup policy hand in the tags and
the rules and get back what to delete and why each other tag stays.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

#: GitLab's duration units (ChronicDuration): a month is 30 days, a year 365.
_UNITS = {
    "s": 1,
    "sec": 1,
    "second": 1,
    "m": 60,
    "min": 60,
    "minute": 60,
    "h": 3600,
    "hr": 3600,
    "hour": 3600,
    "d": 86400,
    "day": 86400,
    "w": 7 * 86400,
    "week": 7 * 86400,
    "mo": 30 * 86400,
    "month": 30 * 86400,
    "y": 365 * 86400,
    "year": 365 * 86400,
}
_PART = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([a-z]+)\s*(?:,|and)?")

KEPT_LATEST = "latest is never deleted"
KEPT_NOT_MATCHED = "does not match name_regex_delete"
KEPT_BY_REGEX = "matches name_regex_keep"
KEPT_BY_COUNT = "among the keep_n most recently pushed"
KEPT_YOUNG = "pushed more recently than older_than"
KEPT_UNKNOWN_AGE = "push time unknown, so not known to be older than older_than"


class TagRuleError(ValueError):
    """Rules that cannot be applied (an invalid pattern, a negative count); the message says why."""


@dataclass(frozen=True, slots=True)
class TagInfo:
    """A tag as the rules see it: its name and when it was pushed (None: not recorded)."""

    name: str
    pushed_at: float | None


@dataclass(frozen=True, slots=True)
class TagRules:
    """The parameters of a bulk deletion. `older_than` is in seconds."""

    name_regex_delete: str | None = None
    name_regex_keep: str | None = None
    keep_n: int | None = None
    older_than: float | None = None


@dataclass(frozen=True, slots=True)
class TagSelection:
    """What the rules remove (newest first), and why each other tag stays."""

    delete: list[str]
    kept: dict[str, str] = field(default_factory=dict)


def compile_pattern(pattern: str, parameter: str) -> re.Pattern[str]:
    """`pattern` compiled to match whole names; TagRuleError naming `parameter` when invalid."""
    try:
        return re.compile(pattern)
    except (re.error, RecursionError, OverflowError) as exc:
        raise TagRuleError(f"{parameter} is an invalid regexp: {exc}") from None


def parse_older_than(text: str) -> float:
    """Seconds in a GitLab duration: `1h`, `7d`, `1month`, `2 days`, `1d 12h`; TagRuleError otherwise."""
    lowered = text.strip().lower()
    total, position = 0.0, 0
    while position < len(lowered):
        match = _PART.match(lowered, position)
        unit = match.group(2) if match is not None else ""
        unit = unit[:-1] if unit not in _UNITS and unit.endswith("s") else unit  # plurals: days, hours
        if match is None or unit not in _UNITS:
            raise TagRuleError(f"older_than is not a duration: {text[:50]!r} (use 1h, 7d, 1month, ...)")
        total += float(match.group(1)) * _UNITS[unit]
        position = match.end()
    if not lowered:
        raise TagRuleError("older_than is empty")
    return total


def select_tags(tags: Iterable[TagInfo], rules: TagRules, now: float) -> TagSelection:
    """The tags `rules` delete at time `now`, and the reason every other tag is kept."""
    if rules.keep_n is not None and rules.keep_n < 0:
        raise TagRuleError("keep_n must not be negative")
    delete_re = compile_pattern(rules.name_regex_delete, "name_regex_delete") if rules.name_regex_delete is not None else None
    keep_re = compile_pattern(rules.name_regex_keep, "name_regex_keep") if rules.name_regex_keep else None
    kept: dict[str, str] = {}
    candidates: list[TagInfo] = []
    for tag in tags:
        if tag.name == "latest":
            kept[tag.name] = KEPT_LATEST
        elif delete_re is None or delete_re.fullmatch(tag.name) is None:
            kept[tag.name] = KEPT_NOT_MATCHED
        elif keep_re is not None and keep_re.fullmatch(tag.name) is not None:
            kept[tag.name] = KEPT_BY_REGEX
        else:
            candidates.append(tag)
    # Newest first; tags without a push time count as the oldest, ties in name order.
    candidates.sort(key=lambda tag: (-(tag.pushed_at if tag.pushed_at is not None else float("-inf")), tag.name))
    if rules.keep_n:
        for tag in candidates[: rules.keep_n]:
            kept[tag.name] = KEPT_BY_COUNT
        candidates = candidates[rules.keep_n :]
    delete: list[str] = []
    for tag in candidates:
        if rules.older_than is not None and tag.pushed_at is None:
            kept[tag.name] = KEPT_UNKNOWN_AGE
        elif rules.older_than is not None and tag.pushed_at is not None and tag.pushed_at > now - rules.older_than:
            kept[tag.name] = KEPT_YOUNG
        else:
            delete.append(tag.name)
    return TagSelection(delete, kept)

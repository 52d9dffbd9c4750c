"""Where event notifications go: Distribution's endpoint settings, read from TOML, as pure rules.

```toml
[notifications]
max_pending = 10000            # events waiting per endpoint; beyond it new ones are dropped (counted)

[[notifications.endpoints]]
name = "alistener"
url = "https://listener.example.com/event"
headers = { Authorization = ["Bearer <token>"] }
timeout = "5s"                 # one delivery attempt, at most
threshold = 5                  # failures in a row before the endpoint is reported failing
backoff = "1s"                 # first wait after a failure; doubles each time, up to MAX_BACKOFF
ignoredmediatypes = ["application/octet-stream"]
ignore = { mediatypes = [], actions = ["pull"] }
disabled = false
```

A project's hooks are endpoints too (`hook_endpoint`), limited to that project's repositories.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from tinyreg.durations import SYNTAX, DurationError, parse_duration
from tinyreg.registry.events import ACTIONS

DEFAULT_MAX_PENDING = 10_000
#: The longest wait between two attempts, whatever the backoff has grown to.
MAX_BACKOFF = 300.0
#: A project's hook, unless told otherwise, hears of changes (pulls can be many).
DEFAULT_HOOK_ACTIONS = ("push", "delete", "mount", "move")
GITLAB_TOKEN_HEADER = "X-Gitlab-Token"


class NotificationSettingsError(ValueError):
    """A notification setting that cannot be used; the message names the endpoint and field."""


@dataclass(frozen=True)
class Endpoint:
    """One place events are delivered to."""

    name: str
    url: str
    headers: tuple[tuple[str, tuple[str, ...]], ...] = ()
    timeout: float = 5.0
    threshold: int = 10
    backoff: float = 1.0
    ignored_media_types: frozenset[str] = frozenset()
    ignored_actions: frozenset[str] = frozenset()
    disabled: bool = False
    verify_tls: bool = True
    project: str | None = None  # a project's hook: only events of that project's repositories
    hook_id: int | None = None

    @property
    def queue(self) -> str:
        """The name of its queue of events in storage."""
        return hook_queue(self.hook_id) if self.hook_id is not None else f"endpoint:{self.name}"

    def wants(self, action: str, media_type: str | None) -> bool:
        """Whether an event of `action` on content of `media_type` goes to this endpoint."""
        if self.disabled or action in self.ignored_actions:
            return False
        return media_type is None or media_type not in self.ignored_media_types

    def header_pairs(self) -> list[tuple[str, str]]:
        return [(name, value) for name, values in self.headers for value in values]


@dataclass(frozen=True)
class NotificationSettings:
    endpoints: tuple[Endpoint, ...] = ()
    max_pending: int = DEFAULT_MAX_PENDING

    @property
    def active(self) -> tuple[Endpoint, ...]:
        return tuple(endpoint for endpoint in self.endpoints if not endpoint.disabled)


def hook_queue(hook_id: int) -> str:
    """The queue of a project's hook in storage."""
    return f"hook:{hook_id}"


def retry_delay(backoff: float, failures: int, cap: float = MAX_BACKOFF) -> float:
    """The wait after the `failures`-th failure in a row: `backoff`, doubling, at most `cap`
    (or `backoff` itself when that is longer)."""
    return float(min(backoff * 2.0 ** max(failures - 1, 0), max(cap, backoff)))


def check_url(url: Any) -> str | None:
    """Why `url` cannot be delivered to, or None."""
    if not isinstance(url, str) or not url:
        return "must be an http:// or https:// URL"
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"must be an http:// or https:// URL, not {url!r}"
    return None


def _strings(value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise NotificationSettingsError(f"{where} must be a list of strings, not {value!r}")
    return tuple(value)


def _duration(value: Any, where: str) -> float:
    try:
        seconds = parse_duration(value) if isinstance(value, str) else float(value)
    except (DurationError, TypeError, ValueError):
        seconds = -1.0
    if isinstance(value, bool) or not seconds > 0:
        raise NotificationSettingsError(f"{where} must be a positive duration ({SYNTAX}), not {value!r}")
    return seconds


ENDPOINT_FIELDS = ("name", "url", "headers", "timeout", "threshold", "backoff", "ignoredmediatypes", "ignore", "disabled")


def parse_endpoint(table: Any, index: int, origin: str) -> Endpoint:
    """One `[[notifications.endpoints]]` table; errors name the endpoint and the field."""
    if not isinstance(table, dict):
        raise NotificationSettingsError(f"{origin}: notifications.endpoints[{index}] must be a table")
    name = table.get("name")
    label = f"notifications endpoint {name!r}" if isinstance(name, str) and name else f"notifications.endpoints[{index}]"
    where = f"{origin}: {label}"
    for key in table:
        if key not in ENDPOINT_FIELDS:
            raise NotificationSettingsError(f"{where}: unknown field {key!r} (known: {', '.join(ENDPOINT_FIELDS)})")
    if not isinstance(name, str) or not name:
        raise NotificationSettingsError(f"{where}: name is required (a non-empty string)")
    if (problem := check_url(table.get("url"))) is not None:
        raise NotificationSettingsError(f"{where}: url {problem}")
    headers = table.get("headers", {})
    if not isinstance(headers, dict):
        raise NotificationSettingsError(f"{where}: headers must be a table of lists of strings, not {headers!r}")
    pairs = tuple((key, _strings(values, f"{where}: headers.{key}")) for key, values in headers.items())
    threshold = table.get("threshold", 10)
    if isinstance(threshold, bool) or not isinstance(threshold, int) or threshold < 1:
        raise NotificationSettingsError(f"{where}: threshold must be an integer of at least 1, not {threshold!r}")
    ignore = table.get("ignore", {})
    if not isinstance(ignore, dict) or set(ignore) - {"mediatypes", "actions"}:
        raise NotificationSettingsError(f"{where}: ignore must be a table of mediatypes and actions, not {ignore!r}")
    actions = _strings(ignore.get("actions", []), f"{where}: ignore.actions")
    unknown = [action for action in actions if action not in ACTIONS]
    if unknown:
        raise NotificationSettingsError(f"{where}: ignore.actions has {unknown[0]!r}: the actions are {', '.join(ACTIONS)}")
    media_types = _strings(table.get("ignoredmediatypes", []), f"{where}: ignoredmediatypes")
    media_types += _strings(ignore.get("mediatypes", []), f"{where}: ignore.mediatypes")
    disabled = table.get("disabled", False)
    if not isinstance(disabled, bool):
        raise NotificationSettingsError(f"{where}: disabled must be true or false, not {disabled!r}")
    return Endpoint(
        name=name,
        url=table["url"],
        headers=pairs,
        timeout=_duration(table.get("timeout", "5s"), f"{where}: timeout"),
        threshold=threshold,
        backoff=_duration(table.get("backoff", "1s"), f"{where}: backoff"),
        ignored_media_types=frozenset(media_types),
        ignored_actions=frozenset(actions),
        disabled=disabled,
    )


def parse_notifications(table: Any, origin: str) -> NotificationSettings:
    """The `[notifications]` table of a TOML file (NotificationSettingsError names what is wrong)."""
    if not isinstance(table, dict):
        raise NotificationSettingsError(f"{origin}: notifications must be a table")
    for key in table:
        if key not in ("endpoints", "max_pending"):
            raise NotificationSettingsError(f"{origin}: notifications has unknown field {key!r} (known: endpoints, max_pending)")
    max_pending = table.get("max_pending", DEFAULT_MAX_PENDING)
    if isinstance(max_pending, bool) or not isinstance(max_pending, int) or max_pending < 1:
        raise NotificationSettingsError(
            f"{origin}: notifications.max_pending must be an integer of at least 1, not {max_pending!r}"
        )
    listed = table.get("endpoints", [])
    if not isinstance(listed, list):
        raise NotificationSettingsError(
            f"{origin}: notifications.endpoints must be an array of tables ([[notifications.endpoints]])"
        )
    endpoints = tuple(parse_endpoint(item, index, origin) for index, item in enumerate(listed))
    names = [endpoint.name for endpoint in endpoints]
    for name in names:
        if names.count(name) > 1:
            raise NotificationSettingsError(f"{origin}: notifications endpoint {name!r} is defined twice: names must differ")
    return NotificationSettings(endpoints, max_pending)


def check_hook_actions(actions: Any) -> tuple[str, ...]:
    """A hook's `registry_actions`: a list of known actions (ValueError says which are known)."""
    if not isinstance(actions, list) or not all(isinstance(action, str) and action in ACTIONS for action in actions):
        raise ValueError(f"registry_actions must be a list of {', '.join(ACTIONS)}")
    return tuple(dict.fromkeys(actions))


def hook_endpoint(path: str, hook_id: int, row: Mapping[str, Any]) -> Endpoint:
    """A project's hook as an endpoint: GitLab's secret header, only the actions it asked for."""
    token = row.get("token") or ""
    actions: Iterable[str] = row.get("registry_actions") or DEFAULT_HOOK_ACTIONS
    return Endpoint(
        name=f"hook {hook_id} of {path}",
        url=str(row["url"]),
        headers=((GITLAB_TOKEN_HEADER, (token,)),) if token else (),
        ignored_actions=frozenset(ACTIONS) - frozenset(actions),
        verify_tls=bool(row.get("enable_ssl_verification", True)),
        project=path,
        hook_id=hook_id,
    )

"""Hold back repeated failed logins, per user name and per client address (pure state).

Every attempt is counted *before* its credentials are checked, so guesses sent in parallel
count against each other. The first `FREE_FAILURES` attempts of a window go through at once;
the next ones wait a little longer each time (doubling up to `MAX_DELAY`); once `BUDGET`
attempts have failed within `WINDOW`, further ones are refused outright, without checking
anything, until the window has passed since the last counted failure. A success ends the
episode for its keys.
"""

from __future__ import annotations

import ipaddress
from collections import OrderedDict
from dataclasses import dataclass

FREE_FAILURES = 3
BUDGET = 10
WINDOW = 300.0
MAX_DELAY = 10.0
MAX_KEYS = 10_000


@dataclass(frozen=True, slots=True)
class Verdict:
    """What to do with one login attempt."""

    refused_for: float = 0.0  # > 0: refuse it; the keys are free again after this many seconds
    delay: float = 0.0  # seconds to wait before checking the credentials (when not refused)
    throttling_starts: tuple[str, ...] = ()  # keys held back for the first time in this episode


@dataclass(slots=True)
class _Failures:
    count: int
    last: float
    noticed: bool = False  # the start of this episode was reported already


def delay_after(failures: int) -> float:
    """Seconds an attempt waits when `failures` attempts failed recently."""
    if failures < FREE_FAILURES:
        return 0.0
    return min(0.25 * 2.0 ** (failures - FREE_FAILURES), MAX_DELAY)


def address_key(address: str) -> str:
    """The throttle key of a client address: the address, or for IPv6 its /64 network.

    One IPv6 host usually holds a whole /64 and could take a fresh address for every guess.
    """
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return f"addr:{address}"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return f"addr:{ip.ipv4_mapped}"
        return f"addr:{ipaddress.ip_network((ip, 64), strict=False)}"
    return f"addr:{ip}"


class Throttle:
    """Counts recent failures per key (`user:<name>`, `addr:<ip>`) and decides each attempt."""

    def __init__(self) -> None:
        self._failures: OrderedDict[str, _Failures] = OrderedDict()

    def _recent(self, key: str, now: float) -> _Failures | None:
        entry = self._failures.get(key)
        return entry if entry is not None and now - entry.last <= WINDOW else None

    def count(self, key: str, now: float) -> int:
        """Failures counted for `key` within the window."""
        entry = self._recent(key, now)
        return entry.count if entry else 0

    def attempt(self, keys: list[str], now: float) -> Verdict:
        """Decide an attempt for these keys; an admitted one is counted as a failure until it succeeds."""
        recent = {key: self._recent(key, now) for key in keys}
        spent = {key: entry for key, entry in recent.items() if entry is not None and entry.count >= BUDGET}
        if spent:
            return Verdict(
                refused_for=max(entry.last + WINDOW - now for entry in spent.values()),
                throttling_starts=self._notice(spent),
            )
        held = {key: entry for key, entry in recent.items() if entry is not None and entry.count >= FREE_FAILURES}
        delay = delay_after(max((entry.count for entry in held.values()), default=0))
        starts = self._notice(held)
        for key, entry in recent.items():
            self._failures.pop(key, None)
            if entry is None:
                entry = _Failures(0, now)
            entry.count, entry.last = entry.count + 1, now
            self._failures[key] = entry
        while len(self._failures) > MAX_KEYS:
            self._failures.popitem(last=False)
        return Verdict(delay=delay, throttling_starts=starts)

    @staticmethod
    def _notice(entries: dict[str, _Failures]) -> tuple[str, ...]:
        starts = tuple(key for key, entry in entries.items() if not entry.noticed)
        for entry in entries.values():
            entry.noticed = True
        return starts

    def succeeded(self, keys: list[str]) -> None:
        for key in keys:
            self._failures.pop(key, None)

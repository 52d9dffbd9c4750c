"""Slow down repeated failed logins, per user name and per client address (pure state)."""

from __future__ import annotations

from collections import OrderedDict

FREE_FAILURES = 3
WINDOW = 300.0
MAX_DELAY = 10.0
MAX_KEYS = 10_000


class Throttle:
    """Counts recent failures per key and says how long the next attempt must wait."""

    def __init__(self) -> None:
        self._failures: OrderedDict[str, tuple[int, float]] = OrderedDict()

    def delay(self, keys: list[str], now: float) -> float:
        """Seconds to wait before checking credentials for these keys (user, address)."""
        worst = 0
        for key in keys:
            count, last = self._failures.get(key, (0, 0.0))
            if now - last <= WINDOW:
                worst = max(worst, count)
        if worst < FREE_FAILURES:
            return 0.0
        return min(0.25 * 2 ** (worst - FREE_FAILURES), MAX_DELAY)

    def failed(self, keys: list[str], now: float) -> None:
        for key in keys:
            count, last = self._failures.pop(key, (0, 0.0))
            self._failures[key] = (count + 1 if now - last <= WINDOW else 1, now)
        while len(self._failures) > MAX_KEYS:
            self._failures.popitem(last=False)

    def succeeded(self, keys: list[str]) -> None:
        for key in keys:
            self._failures.pop(key, None)

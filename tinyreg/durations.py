"""One syntax for every length of time the command line, the TOML file and the environment take.

`90s`, `15m`, `12h`, `30d`, `2w`, or a bare number of seconds (`3600`, `1.5`).
"""

from __future__ import annotations

import argparse
import re

_DURATION = re.compile(r"(\d+(?:\.\d*)?|\.\d+)\s*([smhdw]?)")
UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
SYNTAX = "a number of seconds, or a number with a unit: 90s, 15m, 12h, 30d, 2w"


class DurationError(ValueError):
    """A text that is not a duration; the message says what is accepted."""


def parse_duration(text: str) -> float:
    """The seconds in `text`: `90`, `1.5`, `90s`, `15m`, `12h`, `30d` or `2w`."""
    match = _DURATION.fullmatch(text.strip().lower())
    if match is None:
        raise DurationError(f"not a duration: {text!r} (use {SYNTAX})")
    return float(match.group(1)) * UNITS[match.group(2)]


def duration_argument(text: str) -> float:
    """`parse_duration` for argparse `type=`: its message is shown as it is."""
    try:
        return parse_duration(text)
    except DurationError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None

"""The one duration syntax of the command line, the TOML file and the environment."""

from __future__ import annotations

import pytest
from tinyreg.durations import DurationError, parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("3600", 3600.0),
        ("1.5", 1.5),
        ("0", 0.0),
        ("90s", 90.0),
        ("15m", 900.0),
        ("12h", 43200.0),
        ("30d", 2592000.0),
        ("1w", 604800.0),
        ("1.5h", 5400.0),
        (" 2H ", 7200.0),
        ("10 m", 600.0),
    ],
)
def test_durations_are_seconds_or_a_number_with_a_unit(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "soon", "h", "-5", "5x", "1h30m", "5 minutes", "1e3", "inf", "nan"])
def test_anything_else_is_refused_saying_what_is_accepted(text: str) -> None:
    with pytest.raises(DurationError) as raised:
        parse_duration(text)
    assert repr(text) in str(raised.value)
    assert "90s, 15m, 12h, 30d" in str(raised.value)

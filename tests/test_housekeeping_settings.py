"""The housekeeping settings: online GC's interval and grace, the cleanup scheduler's pace."""

from __future__ import annotations

from typing import Any

import pytest
from tinyreg.config import ConfigError, Settings, load_settings


def test_defaults() -> None:
    settings = Settings()
    assert (settings.gc_interval, settings.gc_grace, settings.cleanup_interval, settings.cleanup_batch) == (3600, 3600, 60, 1000)
    assert settings.cleanup_cadence_seconds == 0


@pytest.mark.parametrize(
    ("flags", "env", "expected"),
    [
        ({"gc_interval": "off"}, {}, {"gc_interval": 0.0}),
        ({"gc_interval": "0"}, {}, {"gc_interval": 0.0}),
        ({}, {"TINYREG_GC_INTERVAL": "15m"}, {"gc_interval": 900.0}),
        ({"gc_interval": "30s"}, {"TINYREG_GC_INTERVAL": "15m"}, {"gc_interval": 30.0}),  # flags win
        ({"gc_grace": "0"}, {}, {"gc_grace": 0.0}),
        ({}, {"TINYREG_GC_GRACE": "off"}, {"gc_grace": 0.0}),
        ({"cleanup_interval": "5s", "cleanup_batch": 10}, {}, {"cleanup_interval": 5.0, "cleanup_batch": 10}),
        ({}, {"TINYREG_CLEANUP_CADENCE_SECONDS": "2"}, {"cleanup_cadence_seconds": 2.0}),
    ],
)
def test_sources_and_off(flags: dict[str, Any], env: dict[str, str], expected: dict[str, Any]) -> None:
    settings = load_settings(flags, env=env)
    assert {name: getattr(settings, name) for name in expected} == expected


@pytest.mark.parametrize(
    "flags",
    [
        {"gc_interval": "-1"},
        {"gc_interval": "soon"},
        {"cleanup_interval": "0"},
        {"cleanup_interval": "off"},
        {"cleanup_batch": 0},
    ],
)
def test_unusable_values_are_refused(flags: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        load_settings(flags, env={})

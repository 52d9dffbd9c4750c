"""`move_alias_days`: from flags (`--move-alias`), the environment and a TOML file; 0 keeps no alias."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from tinyreg.cli import _parser
from tinyreg.config import ConfigError, Settings, load_settings


def test_the_default_is_thirty_days() -> None:
    assert Settings().move_alias_days == 30


@pytest.mark.parametrize(
    ("flags", "env", "toml", "expected"),
    [
        ({}, {"TINYREG_MOVE_ALIAS_DAYS": "7"}, "", 7),
        ({}, {}, "move_alias_days = 0\n", 0),
        ({"move_alias_days": 90}, {"TINYREG_MOVE_ALIAS_DAYS": "7"}, "move_alias_days = 1\n", 90),  # flags win
        ({}, {"TINYREG_MOVE_ALIAS_DAYS": "7"}, "move_alias_days = 1\n", 7),  # then the environment
    ],
)
def test_sources(tmp_path: Path, flags: dict[str, Any], env: dict[str, str], toml: str, expected: int) -> None:
    config = tmp_path / "tinyreg.toml"
    config.write_text(toml)
    assert load_settings(flags, env=env, config_file=config).move_alias_days == expected


@pytest.mark.parametrize("flags", [{"move_alias_days": -1}, {"move_alias_days": "a month"}])
def test_unusable_values_are_refused(flags: dict[str, Any]) -> None:
    with pytest.raises(ConfigError, match="move_alias_days"):
        load_settings(flags, env={})


def test_the_flags_of_serve_and_of_the_move_commands() -> None:
    parser = _parser()
    assert parser.parse_args(["serve", "--move-alias", "0"]).move_alias_days == 0
    assert parser.parse_args(["project", "move", "a/b", "c/d", "--move-alias", "3"]).move_alias_days == 3
    assert parser.parse_args(["repository", "move", "a/b/c", "a/b/d"]).move_alias_days is None  # the setting decides

"""Settings come from defaults, then a TOML file, then `TINYREG_*` variables, then command-line flags."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from tinyreg.config import ConfigError, Settings, load_settings
from tinyreg.workers import worker_count


def write_toml(directory: Path, text: str, name: str = "tinyreg.toml") -> Path:
    """Write `text` to a TOML file in `directory` and return its path."""
    path = directory / name
    path.write_text(text)
    return path


def test_defaults_when_nothing_is_given() -> None:
    assert load_settings({}, env={}) == Settings()
    assert load_settings(None, env={}) == Settings()


@pytest.mark.parametrize(
    ("in_file", "in_env", "in_flags", "port"),
    [
        pytest.param(False, False, False, 5000, id="default"),
        pytest.param(True, False, False, 6000, id="file-over-default"),
        pytest.param(True, True, False, 7000, id="env-over-file"),
        pytest.param(False, True, False, 7000, id="env-over-default"),
        pytest.param(True, True, True, 8000, id="flags-over-env"),
        pytest.param(True, False, True, 8000, id="flags-over-file"),
    ],
)
def test_flags_win_over_env_over_file(tmp_path: Path, in_file: bool, in_env: bool, in_flags: bool, port: int) -> None:
    config = write_toml(tmp_path, "port = 6000\n") if in_file else None
    env = {"TINYREG_PORT": "7000"} if in_env else {}
    flags = {"port": 8000} if in_flags else {}
    assert load_settings(flags, env=env, config_file=config).port == port


def test_each_source_sets_only_what_it_names(tmp_path: Path) -> None:
    config = write_toml(tmp_path, 'host = "0.0.0.0"\nport = 6000\nlog_level = "debug"\n')
    settings = load_settings({"port": 8000}, env={"TINYREG_LOG_LEVEL": "warning"}, config_file=config)
    assert (settings.host, settings.port, settings.log_level) == ("0.0.0.0", 8000, "warning")
    assert settings.data == Settings().data


def test_flags_left_unset_do_not_override(tmp_path: Path) -> None:
    settings = load_settings({"port": None, "host": None}, env={"TINYREG_PORT": "7000"})
    assert (settings.port, settings.host) == (7000, Settings().host)


def test_flag_names_may_use_dashes() -> None:
    assert load_settings({"log-level": "debug", "upload-ttl": 5}, env={}).log_level == "debug"
    assert load_settings({"upload-ttl": 5}, env={}).upload_ttl == 5.0


@pytest.mark.parametrize(
    ("variable", "value", "field", "expected"),
    [
        ("TINYREG_PORT", "5050", "port", 5050),
        ("TINYREG_HOST", "::1", "host", "::1"),
        ("TINYREG_DATA", "/srv/registry", "data", Path("/srv/registry")),
        ("TINYREG_UPLOAD_TTL", "1.5", "upload_ttl", 1.5),
        ("TINYREG_UPLOAD_TTL", "12h", "upload_ttl", 43200.0),
        ("TINYREG_TOKEN_TTL", "90s", "token_ttl", 90.0),
        ("TINYREG_SWEEP_INTERVAL", "30", "sweep_interval", 30.0),
        ("TINYREG_ACCESS_LOG", "0", "access_log", False),
        ("TINYREG_ACCESS_LOG", "false", "access_log", False),
        ("TINYREG_ACCESS_LOG", "False", "access_log", False),
        ("TINYREG_ACCESS_LOG", "no", "access_log", False),
        ("TINYREG_ACCESS_LOG", "off", "access_log", False),
        ("TINYREG_ACCESS_LOG", "1", "access_log", True),
        ("TINYREG_ACCESS_LOG", "true", "access_log", True),
        ("TINYREG_ACCESS_LOG", "yes", "access_log", True),
    ],
)
def test_environment_strings_are_converted_to_the_setting_type(variable: str, value: str, field: str, expected: Any) -> None:
    result = getattr(load_settings({}, env={variable: value}), field)
    assert result == expected
    assert type(result) is type(expected)


@pytest.mark.parametrize(
    ("text", "field", "expected"),
    [
        ("port = 6000", "port", 6000),
        ("access_log = false", "access_log", False),
        ("upload_ttl = 10", "upload_ttl", 10.0),
        ("upload_ttl = 1.5", "upload_ttl", 1.5),
        ('upload_ttl = "2h"', "upload_ttl", 7200.0),
        ('token_ttl = "15m"', "token_ttl", 900.0),
        ("workers = 2", "workers", "2"),
        ('workers = "auto"', "workers", "auto"),
        ('data = "/var/lib/tinyreg"', "data", Path("/var/lib/tinyreg")),
    ],
)
def test_file_values_are_converted_to_the_setting_type(tmp_path: Path, text: str, field: str, expected: Any) -> None:
    result = getattr(load_settings({}, env={}, config_file=write_toml(tmp_path, text)), field)
    assert result == expected
    assert type(result) is type(expected)


@pytest.mark.parametrize(
    ("env", "flags", "mentioned"),
    [
        ({"TINYREG_PORT": "http"}, {}, "port"),
        ({"TINYREG_PORT": "1.5"}, {}, "port"),
        ({"TINYREG_ACCESS_LOG": "maybe"}, {}, "access_log"),
        ({"TINYREG_UPLOAD_TTL": "soon"}, {}, "upload_ttl"),
        ({}, {"port": True}, "port"),
        ({}, {"colour": "blue"}, "colour"),
    ],
)
def test_values_that_cannot_be_used_are_config_errors(env: dict[str, str], flags: dict[str, Any], mentioned: str) -> None:
    with pytest.raises(ConfigError, match=mentioned):
        load_settings(flags, env=env)


def test_unknown_environment_variables_are_ignored() -> None:
    assert load_settings({}, env={"TINYREG_COLOUR": "blue", "PORT": "1", "HOST": "x"}) == Settings()


@pytest.mark.parametrize(
    ("text", "mentioned"),
    [
        pytest.param('colour = "blue"\n', "colour", id="unknown-key"),
        pytest.param("[server]\nport = 6000\n", "server", id="unknown-table"),
        pytest.param("port = true\n", "port", id="bool-for-int"),
        pytest.param("port = [1]\n", "port", id="list-for-int"),
        pytest.param("port = \n", "TOML", id="missing-value"),
        pytest.param("port = 6000\nport = 7000\n", "TOML", id="duplicate-key"),
        pytest.param("this is not toml", "TOML", id="not-toml"),
        # TOML values are typed: one of another type is refused naming the key and the type expected
        pytest.param('port = "abc"\n', "port must be an integer, not a string ('abc')", id="typed-string-for-int"),
        pytest.param('auth = "yes"\n', "auth must be true or false, not a string ('yes')", id="typed-string-for-bool"),
        pytest.param('access_log = "0"\n', "access_log must be true or false, not a string ('0')", id="typed-digit-for-bool"),
        pytest.param("upload_ttl = true\n", "upload_ttl must be a duration (", id="typed-bool-for-duration"),
        pytest.param('upload_ttl = "soon"\n', "upload_ttl must be a duration (", id="typed-text-for-duration"),
        pytest.param("data = 5\n", "data must be a path, not an integer (5)", id="typed-int-for-path"),
        pytest.param("port = 70000\n", "port must be between 0 and 65535, not 70000", id="typed-port-out-of-range"),
        pytest.param('token_ttl = "0s"\n', "token_ttl must be a positive duration", id="typed-zero-duration"),
    ],
)
def test_a_config_file_that_cannot_be_used_is_a_config_error(tmp_path: Path, text: str, mentioned: str) -> None:
    config = write_toml(tmp_path, text)
    with pytest.raises(ConfigError) as raised:
        load_settings({}, env={}, config_file=config)
    assert str(raised.value).startswith(str(config))
    assert mentioned in str(raised.value)


def test_a_missing_config_file_is_a_config_error(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.toml"
    with pytest.raises(ConfigError, match="nowhere.toml"):
        load_settings({}, env={}, config_file=missing)


def test_tinyreg_config_names_the_file(tmp_path: Path) -> None:
    config = write_toml(tmp_path, "port = 6000\naccess_log = false\n")
    settings = load_settings({}, env={"TINYREG_CONFIG": str(config)})
    assert (settings.port, settings.access_log) == (6000, False)


def test_tinyreg_config_file_still_loses_to_env_and_flags(tmp_path: Path) -> None:
    config = write_toml(tmp_path, 'port = 6000\nhost = "0.0.0.0"\nlog_level = "debug"\n')
    settings = load_settings({"port": 8000}, env={"TINYREG_CONFIG": str(config), "TINYREG_HOST": "::1"})
    assert (settings.port, settings.host, settings.log_level) == (8000, "::1", "debug")


def test_an_explicit_config_file_wins_over_tinyreg_config(tmp_path: Path) -> None:
    named = write_toml(tmp_path, "port = 6000\n", "named.toml")
    explicit = write_toml(tmp_path, "port = 6100\n", "explicit.toml")
    assert load_settings({}, env={"TINYREG_CONFIG": str(named)}, config_file=explicit).port == 6100


def test_tinyreg_config_naming_a_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="absent.toml"):
        load_settings({}, env={"TINYREG_CONFIG": str(tmp_path / "absent.toml")})


def test_the_process_environment_is_read_when_no_env_is_given(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [n for n in os.environ if n.startswith("TINYREG_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("TINYREG_PORT", "5151")
    assert load_settings({}).port == 5151


@pytest.mark.parametrize(("value", "expected"), [("auto", os.cpu_count() or 1), ("1", 1), ("4", 4), ("04", 4)])
def test_workers_is_auto_or_a_positive_count(value: str, expected: int) -> None:
    assert worker_count(value) == expected


@pytest.mark.parametrize("value", ["0", "", "-1", "²", "٣", "1.5", "two", " 2"])
def test_workers_that_are_not_a_positive_ascii_count_are_a_config_error(value: str) -> None:
    with pytest.raises(ConfigError, match="workers"):
        worker_count(value)


@pytest.mark.parametrize(
    ("variable", "value", "accepted"),
    [
        ("TINYREG_PORT", "abc", "port takes an integer"),
        ("TINYREG_PORT", "70000", "port must be between 0 and 65535"),
        ("TINYREG_AUTH", "maybe", "auth takes one of 0, 1, false, no, off, on, true, yes"),
        ("TINYREG_UPLOAD_TTL", "soon", "upload_ttl takes a duration (a number of seconds, or a number with a unit: 90s, 15m"),
        ("TINYREG_LOG_LEVEL", "loud", "log_level must be one of debug, info, warning, error"),
    ],
)
def test_a_wrong_environment_value_names_the_variable_and_the_accepted_values(variable: str, value: str, accepted: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load_settings({}, env={variable: value})
    assert str(raised.value).startswith(f"{variable}={value!r} cannot be used: ")
    assert accepted in str(raised.value)


def test_flags_take_durations_too() -> None:
    assert load_settings({"upload_ttl": "30d"}, env={}).upload_ttl == 30 * 86400.0

"""Notification endpoints from TOML, with Distribution's names (pure parsing, and through load_settings)."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
from tinyreg.config import ConfigError, load_settings
from tinyreg.registry.notification_settings import (
    Endpoint,
    NotificationSettingsError,
    hook_endpoint,
    parse_notifications,
    retry_delay,
)

from tests.processes import clean_env, tinyreg_command

FULL = """
[notifications]
max_pending = 50

[[notifications.endpoints]]
name = "alistener"
url = "https://listener.example.com/event"
headers = { Authorization = ["Bearer abc"], X-Two = ["a", "b"] }
timeout = "500"
threshold = 5
backoff = "2s"
ignoredmediatypes = ["application/octet-stream"]
ignore = { mediatypes = ["text/plain"], actions = ["pull"] }

[[notifications.endpoints]]
name = "off"
url = "http://127.0.0.1:9/"
disabled = true
"""


def test_a_full_configuration_is_read_with_distributions_names(tmp_path: Path) -> None:
    config = tmp_path / "tinyreg.toml"
    config.write_text(FULL)
    settings = load_settings({}, env={}, config_file=config).notifications
    assert settings.max_pending == 50
    first, second = settings.endpoints
    assert first == Endpoint(
        name="alistener",
        url="https://listener.example.com/event",
        headers=(("Authorization", ("Bearer abc",)), ("X-Two", ("a", "b"))),
        timeout=500.0,
        threshold=5,
        backoff=2.0,
        ignored_media_types=frozenset({"application/octet-stream", "text/plain"}),
        ignored_actions=frozenset({"pull"}),
    )
    assert first.header_pairs() == [("Authorization", "Bearer abc"), ("X-Two", "a"), ("X-Two", "b")]
    assert second.disabled and settings.active == (first,)


def test_defaults() -> None:
    settings = parse_notifications({"endpoints": [{"name": "a", "url": "http://h/e"}]}, "f")
    assert settings.max_pending == 10_000
    assert settings.endpoints == (Endpoint("a", "http://h/e", timeout=5.0, threshold=10, backoff=1.0),)
    assert parse_notifications({}, "f").endpoints == ()


ENDPOINT = {"name": "alistener", "url": "http://h/e"}
ERRORS: list[tuple[Any, str]] = [
    ({"endpoints": [{"url": "http://h/e"}]}, "f: notifications.endpoints[0]: name is required"),
    ({"endpoints": [{"name": "alistener"}]}, "f: notifications endpoint 'alistener': url must be an http:// or https:// URL"),
    (
        {"endpoints": [{**ENDPOINT, "url": "ftp://h/e"}]},
        "endpoint 'alistener': url must be an http:// or https:// URL, not 'ftp://h/e'",
    ),
    ({"endpoints": [{**ENDPOINT, "timeout": "soon"}]}, "endpoint 'alistener': timeout must be a positive duration"),
    ({"endpoints": [{**ENDPOINT, "timeout": "0s"}]}, "endpoint 'alistener': timeout must be a positive duration"),
    ({"endpoints": [{**ENDPOINT, "backoff": True}]}, "endpoint 'alistener': backoff must be a positive duration"),
    ({"endpoints": [{**ENDPOINT, "threshold": 0}]}, "endpoint 'alistener': threshold must be an integer of at least 1"),
    ({"endpoints": [{**ENDPOINT, "threshold": "5"}]}, "endpoint 'alistener': threshold must be an integer of at least 1"),
    ({"endpoints": [{**ENDPOINT, "headers": {"A": "b"}}]}, "endpoint 'alistener': headers.A must be a list of strings"),
    ({"endpoints": [{**ENDPOINT, "headers": ["A"]}]}, "endpoint 'alistener': headers must be a table of lists of strings"),
    (
        {"endpoints": [{**ENDPOINT, "ignoredmediatypes": "x"}]},
        "endpoint 'alistener': ignoredmediatypes must be a list of strings",
    ),
    ({"endpoints": [{**ENDPOINT, "ignore": {"actions": ["push", "tag"]}}]}, "endpoint 'alistener': ignore.actions has 'tag'"),
    (
        {"endpoints": [{**ENDPOINT, "ignore": {"kinds": []}}]},
        "endpoint 'alistener': ignore must be a table of mediatypes and actions",
    ),
    ({"endpoints": [{**ENDPOINT, "disabled": "yes"}]}, "endpoint 'alistener': disabled must be true or false"),
    ({"endpoints": [{**ENDPOINT, "retries": 3}]}, "endpoint 'alistener': unknown field 'retries'"),
    ({"endpoints": [ENDPOINT, ENDPOINT]}, "endpoint 'alistener' is defined twice"),
    ({"endpoints": {"name": "a"}}, "notifications.endpoints must be an array of tables"),
    ({"max_pending": 0}, "notifications.max_pending must be an integer of at least 1"),
    ({"queue": 1}, "notifications has unknown field 'queue'"),
]


@pytest.mark.parametrize(("table", "message"), ERRORS)
def test_a_bad_setting_is_refused_naming_the_endpoint_and_field(table: Any, message: str) -> None:
    with pytest.raises(NotificationSettingsError) as refused:
        parse_notifications(table, "f")
    assert message in str(refused.value)


def test_a_bad_file_stops_the_start_with_a_config_error(tmp_path: Path) -> None:
    config = tmp_path / "tinyreg.toml"
    config.write_text('[[notifications.endpoints]]\nname = "alistener"\nurl = "http://h/e"\ntimeout = "fast"\n')
    with pytest.raises(
        ConfigError, match=r"tinyreg.toml: notifications endpoint 'alistener': timeout must be a positive duration"
    ):
        load_settings({}, env={}, config_file=config)


def test_notifications_come_from_the_file_only() -> None:
    assert load_settings({}, env={"TINYREG_NOTIFICATIONS": "x"}).notifications.endpoints == ()
    with pytest.raises(ConfigError, match="TOML file only"):
        load_settings({"notifications": "x"}, env={})


@pytest.mark.parametrize(
    ("action", "media_type", "wanted"),
    [
        ("push", "application/vnd.oci.image.manifest.v1+json", True),
        ("pull", None, False),
        ("push", "text/plain", False),
        ("move", None, True),
    ],
)
def test_an_endpoint_wants_what_it_does_not_ignore(action: str, media_type: str | None, wanted: bool) -> None:
    endpoint = Endpoint("a", "http://h/e", ignored_media_types=frozenset({"text/plain"}), ignored_actions=frozenset({"pull"}))
    assert endpoint.wants(action, media_type) is wanted


@pytest.mark.parametrize(
    ("backoff", "failures", "delay"),
    [(1.0, 1, 1.0), (1.0, 2, 2.0), (1.0, 4, 8.0), (1.0, 30, 300.0), (0.5, 0, 0.5), (600.0, 3, 600.0)],
)
def test_the_wait_after_failures_grows_and_is_capped(backoff: float, failures: int, delay: float) -> None:
    assert retry_delay(backoff, failures) == delay


def test_a_projects_hook_sends_its_secret_and_hears_only_what_it_asked_for() -> None:
    hook = hook_endpoint("team/app", 7, {"url": "https://ci/hook", "token": "s3cret", "registry_actions": ["push"]})
    assert hook.queue == "hook:7" and hook.project == "team/app"
    assert hook.header_pairs() == [("X-Gitlab-Token", "s3cret")]
    assert hook.wants("push", None) and not hook.wants("delete", None) and not hook.wants("pull", None)
    quiet = hook_endpoint("team/app", 8, {"url": "http://ci/hook", "enable_ssl_verification": False})
    assert quiet.header_pairs() == [] and not quiet.verify_tls and quiet.wants("delete", None)
    assert quiet.wants("move", None)  # a hook that chose nothing hears of its repositories' moves


def test_move_is_an_action_an_endpoint_may_ignore() -> None:
    parsed = parse_notifications({"endpoints": [{**ENDPOINT, "ignore": {"actions": ["move"]}}]}, "t.toml")
    assert not parsed.endpoints[0].wants("move", None) and parsed.endpoints[0].wants("delete", None)


def test_tinyreg_serve_refuses_to_start_with_a_bad_endpoint(tmp_path: Path) -> None:
    config = tmp_path / "tinyreg.toml"
    config.write_text('[[notifications.endpoints]]\nname = "audit"\nurl = "http://127.0.0.1:9/"\nthreshold = -1\n')
    command = tinyreg_command("serve", "--port", "0", "--data", str(tmp_path / "data"), "--config", str(config))
    done = subprocess.run(command, env=clean_env(), capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode != 0
    assert "notifications endpoint 'audit': threshold must be an integer of at least 1" in done.stderr
    assert not (tmp_path / "data").exists()

"""Panel sessions: signed cookies that expire when idle and at most `MAX_AGE` after sign-in, end
with their credentials, and never pass for a registry token (nor the other way round)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from tinyreg.access.control import AccessControl
from tinyreg.access.jwt import TokenError
from tinyreg.access.policy import Principal
from tinyreg.access.sessions import IDLE, MAX_AGE, RENEW_AFTER, Sessions, same_secret
from tinyreg.http.panel.signin import safe_next
from tinyreg.storage.opening import open_meta


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def control(tmp_path: Path) -> Iterator[AccessControl]:
    meta = open_meta(tmp_path)
    try:
        access = AccessControl(meta, tmp_path)
        access.store.add_user("ann", "ann-password-1")
        yield access
    finally:
        meta.close()


ANN = Principal("user", "ann")


def test_a_session_resumes_until_idle_for_too_long(control: AccessControl) -> None:
    clock = Clock()
    sessions = Sessions(control, clock)
    cookie = sessions.open(ANN)
    session = sessions.resume(cookie)
    assert session is not None and session.principal.name == "ann" and len(session.csrf) >= 32
    clock.now += IDLE - 60
    assert sessions.resume(cookie) is not None
    clock.now += 120
    assert sessions.resume(cookie) is None


def test_a_used_session_is_renewed_but_not_beyond_its_maximum_age(control: AccessControl) -> None:
    clock = Clock()
    sessions = Sessions(control, clock)
    cookie = sessions.open(ANN)
    first = sessions.resume(cookie)
    assert first is not None and sessions.renewed(first) is None  # just signed: nothing to renew
    while clock.now - first.signed_at < MAX_AGE - IDLE / 2:
        clock.now += IDLE / 2
        session = sessions.resume(cookie)
        assert session is not None, "a session used twice per idle period stays open"
        renewed = sessions.renewed(session)
        assert renewed is not None and clock.now - session.signed_at >= RENEW_AFTER
        cookie = renewed
        assert sessions.resume(cookie) is not None and sessions.resume(cookie).csrf == first.csrf  # type: ignore[union-attr]
    clock.now += IDLE / 2 + 1
    assert sessions.resume(cookie) is None  # past the maximum age, however recently used


def test_a_session_ends_with_a_new_password_or_the_user(control: AccessControl) -> None:
    sessions = Sessions(control)
    cookie = sessions.open(ANN)
    control.store.update_user("ann", password="ann-password-2")
    assert sessions.resume(cookie) is None
    cookie = sessions.open(ANN)
    control.store.remove_user("ann")
    assert sessions.resume(cookie) is None


def test_a_token_session_ends_with_its_token(control: AccessControl) -> None:
    secret, record = control.store.create_token("personal", "ann", "laptop", ["read_registry"], None)
    sessions = Sessions(control)
    cookie = sessions.open(Principal("user", "ann", scopes=frozenset(record.scopes), token_id=record.id))
    session = sessions.resume(cookie)
    assert session is not None and session.principal.scopes == frozenset({"read_registry"})
    control.store.revoke_token(record.id)
    assert sessions.resume(cookie) is None


def test_sessions_and_registry_tokens_are_not_interchangeable(control: AccessControl) -> None:
    sessions = Sessions(control)
    registry_token, _ = control.issue(ANN, [])
    assert sessions.resume(registry_token) is None
    with pytest.raises(TokenError, match="audience"):
        control.verify(sessions.open(ANN))
    tampered = sessions.open(ANN)[:-4] + "AAAA"
    assert sessions.resume(tampered) is None
    assert sessions.resume("") is None and sessions.resume("not.a.token") is None


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        (None, "/"),
        ("", "/"),
        ("/team/app/-/tags", "/team/app/-/tags"),
        ("/?search=x", "/?search=x"),
        ("//evil.example/", "/"),
        ("https://evil.example/", "/"),
        ("/\\evil.example", "/"),
        ("javascript:alert(1)", "/"),
    ],
)
def test_sign_in_only_goes_on_to_a_path_of_this_site(target: str | None, expected: str) -> None:
    assert safe_next(target) == expected


@pytest.mark.parametrize(
    ("expected", "given", "same"),
    [("abc", "abc", True), ("abc", "abd", False), ("abc", None, False), ("", "", False), ("abc", "", False)],
)
def test_csrf_secrets_compare_exactly(expected: str, given: str | None, same: bool) -> None:
    assert same_secret(expected, given) is same

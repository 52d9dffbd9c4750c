"""Token authentication over HTTP (`--auth`): the OAuth2 `POST /token`, forged bearer tokens,
credentials kept out of the logs, and failed logins held back.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import time
from pathlib import Path

import httpx
import nacl.signing
import pytest
from tinyreg.access.control import AccessControl
from tinyreg.access.jwt import KeyRing
from tinyreg.access.throttle import FREE_FAILURES
from tinyreg.storage.opening import open_meta
from tinyreg.testing import run_registry

from auth_helpers import AuthWorld, basic_auth, bearer_auth, challenge_params, get_token, jwt_sections, token_for
from helpers import assert_error


@pytest.fixture
def world(auth_world: AuthWorld) -> AuthWorld:
    return auth_world


# -- POST /token (OAuth2) ------------------------------------------------------------------


def post_token(world: AuthWorld, **form: str) -> httpx.Response:
    return httpx.post(f"{world.url}/token", data={"service": "tinyreg", "client_id": "tests", **form}, timeout=60)


def test_the_password_grant_returns_an_access_token_and_a_refresh_token(world: AuthWorld) -> None:
    response = post_token(
        world,
        grant_type="password",
        username="bob",
        password=world.PASSWORDS["bob"],
        access_type="offline",
        scope="repository:team/app:pull,push repository:pub/site:pull",
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["refresh_token"] and isinstance(body["expires_in"], int) and body["expires_in"] >= 60
    assert {e["name"]: e["actions"] for e in jwt_sections(body["access_token"])[1]["access"]} == {
        "team/app": ["pull"],
        "pub/site": ["pull"],
    }
    assert set(body["scope"].split()) == {"repository:team/app:pull", "repository:pub/site:pull"}
    assert world.pull_status("team/app", bearer_auth(body["access_token"])) == 200

    refreshed = post_token(
        world, grant_type="refresh_token", refresh_token=body["refresh_token"], scope="repository:team/app:pull"
    )
    assert refreshed.status_code == 200, refreshed.text
    again = refreshed.json()
    assert again["refresh_token"] == body["refresh_token"]
    assert jwt_sections(again["access_token"])[1]["sub"] == "bob"
    assert world.pull_status("team/app", bearer_auth(again["access_token"])) == 200
    assert world.pull_status("team/app", bearer_auth(body["refresh_token"])) == 401


def test_get_token_with_offline_token_returns_a_refresh_token(world: AuthWorld) -> None:
    response = get_token(world.url, ["repository:team/app:pull"], world.login("bob"), offline_token="true")
    assert response.status_code == 200 and response.json()["refresh_token"], response.text


def bad_grants(world: AuthWorld) -> dict[str, tuple[dict[str, str], int]]:
    access = token_for(world.url, ["repository:team/app:pull"], world.login("bob"))
    return {
        "unknown-grant": ({"grant_type": "client_credentials"}, 400),
        "no-grant": ({}, 400),
        "wrong-password": ({"grant_type": "password", "username": "bob", "password": "nope-nope-nope"}, 401),
        "refresh-garbage": ({"grant_type": "refresh_token", "refresh_token": "abc.def.ghi"}, 400),
        "access-token-as-refresh": ({"grant_type": "refresh_token", "refresh_token": access}, 400),
    }


def test_bad_oauth_grants_are_refused(world: AuthWorld) -> None:
    for name, (form, status) in bad_grants(world).items():
        response = post_token(world, **form)
        assert response.status_code == status, f"{name}: {response.status_code} {response.text}"
        assert response.json()["error"] in ("unsupported_grant_type", "invalid_grant", "invalid_request"), name
        assert "access_token" not in response.json(), name


# -- forged tokens, logs and throttling ----------------------------------------------------


def forge(token: str, how: str, public_key: bytes) -> str:
    """An altered copy of a genuine registry token (`public_key`: the registry's, for HS256)."""

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    header, claims = jwt_sections(token)
    head, body, signature = token.split(".")
    wider = b64(json.dumps({**claims, "access": [{"type": "repository", "name": "carol/box", "actions": ["pull"]}]}).encode())
    if how == "tampered payload":
        return f"{head}.{wider}.{signature}"
    if how == "re-signed":
        return f"{head}.{wider}.{b64(nacl.signing.SigningKey.generate().sign(f'{head}.{wider}'.encode()).signature)}"
    if how == "alg none":
        return f"{b64(json.dumps({**header, 'alg': 'none'}).encode())}.{wider}."
    if how == "truncated signature":
        return f"{head}.{body}.{signature[:20]}"
    hs_head = b64(json.dumps({**header, "alg": "HS256"}).encode())
    return f"{hs_head}.{wider}.{b64(hmac.new(public_key, f'{hs_head}.{wider}'.encode(), hashlib.sha256).digest())}"


@pytest.mark.parametrize("how", ["tampered payload", "re-signed", "alg none", "HS256", "truncated signature"])
def test_a_forged_bearer_token_is_refused_as_invalid(world: AuthWorld, how: str) -> None:
    genuine = token_for(world.url, ["repository:pub/site:pull"], world.login("bob"))
    public_key = bytes(KeyRing(world.registry.data_dir / "keys", max_token_age=86400).signing_key.verify_key)
    with world.client(bearer_auth(forge(genuine, how, public_key))) as api:
        response = api.get("/v2/carol/box/manifests/v1")
    assert_error(response, 401, "UNAUTHORIZED")
    assert challenge_params(response)["error"] == "invalid_token"


def test_credentials_never_appear_in_the_logs(world: AuthWorld, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    pat = world.registry.create_token("carol", ["read_registry"])
    token = token_for(world.url, ["repository:team/app:pull"], world.login("bob"))
    assert world.pull_status("carol/box", basic_auth("carol", pat)) == 200
    assert world.pull_status("team/app", bearer_auth(token)) == 200
    assert world.pull_status("team/app", basic_auth("bob", "a-wrong-password-xyz")) == 401
    assert post_token(world, grant_type="password", username="carol", password=world.PASSWORDS["carol"]).status_code == 200
    logged = caplog.text
    assert "/token" in logged and "/v2/carol/box/manifests/v1" in logged
    for secret in (
        world.PASSWORDS["bob"],
        world.PASSWORDS["carol"],
        pat,
        token,
        "a-wrong-password-xyz",
        basic_auth("bob", world.PASSWORDS["bob"])["Authorization"].split()[1],
    ):
        assert secret not in logged


async def test_failed_logins_engage_the_throttle_per_user_name_and_address(tmp_path: Path) -> None:
    meta = open_meta(tmp_path)
    try:
        control = AccessControl(meta, tmp_path)
        control.store.add_user("victim", "the-right-password")
        keys = ["user:victim", "addr:192.0.2.7"]
        for _ in range(FREE_FAILURES):
            assert control.throttle.delay(keys, time.monotonic()) == 0
            assert await control.login("Victim", "a-wrong-guess", "192.0.2.7") is None
        assert control.throttle.delay(keys, time.monotonic()) > 0
        assert control.throttle.delay(["user:someone", "addr:192.0.2.7"], time.monotonic()) > 0
        assert control.throttle.delay(["user:victim", "addr:198.51.100.1"], time.monotonic()) > 0
        assert control.throttle.delay(["user:someone", "addr:198.51.100.1"], time.monotonic()) == 0
        principal = await control.login("victim", "the-right-password", "192.0.2.7")
        assert principal is not None and principal.name == "victim"
        assert control.throttle.delay(keys, time.monotonic()) == 0
    finally:
        meta.close()


def test_repeated_failed_logins_over_http_are_held_back(tmp_path: Path) -> None:
    with run_registry(tmp_path / "data", auth=True) as registry:
        registry.create_user("victim", "the-right-password")
        wrong = basic_auth("victim", "a-wrong-guess")
        started = []
        for _ in range(5):
            started.append(time.monotonic())
            assert get_token(registry.url, [], wrong).status_code == 401
        fifth_took = time.monotonic() - started[-1]
        assert fifth_took >= 0.5, "the fifth failure in a row is held for at least 0.5 s"
        assert get_token(registry.url, [], basic_auth("victim", "the-right-password")).status_code == 200

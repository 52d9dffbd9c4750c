"""Token authentication over HTTP (`--auth`): the OAuth2 `POST /token`, forged bearer tokens,
credentials kept out of the logs, and failed logins held back.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import os
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import nacl.signing
import pytest
from tinyreg.access.control import AccessControl
from tinyreg.access.jwt import DEFAULT_LEEWAY, KeyRing
from tinyreg.access.scopes import MAX_SCOPES
from tinyreg.access.throttle import BUDGET, FREE_FAILURES, WINDOW
from tinyreg.storage.opening import open_meta
from tinyreg.testing import run_registry

from tests.auth_helpers import AuthWorld, admin_ok, basic_auth, bearer_auth, challenge_params, get_token, jwt_sections, token_for
from tests.helpers import assert_error


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


def test_a_token_request_with_too_many_scopes_is_refused(world: AuthWorld) -> None:
    scopes = [f"repository:team/app/n{i}:pull" for i in range(MAX_SCOPES + 1)]
    for response in (
        get_token(world.url, scopes, world.login("bob")),
        post_token(world, grant_type="password", username="bob", password=world.PASSWORDS["bob"], scope=" ".join(scopes)),
    ):
        assert response.status_code == 400, response.text
        assert response.json()["error"] == "invalid_scope"
    assert get_token(world.url, scopes[:MAX_SCOPES] * 3, world.login("bob")).status_code == 200


def test_the_account_parameter_must_name_the_user_of_the_credentials(world: AuthWorld) -> None:
    assert get_token(world.url, ["repository:team/app:pull"], world.login("bob"), account="bob").status_code == 200
    refused = get_token(world.url, ["repository:team/app:pull"], world.login("bob"), account="alice")
    assert_error(refused, 401, "UNAUTHORIZED")
    assert get_token(world.url, ["repository:pub/site:pull"], account="alice").status_code == 200  # anonymous: no claim to check


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


async def test_failed_logins_count_per_user_name_and_address_and_a_success_clears_them(tmp_path: Path) -> None:
    meta = open_meta(tmp_path)
    try:
        control = AccessControl(meta, tmp_path)
        control.store.add_user("victim", "the-right-password")
        for _ in range(FREE_FAILURES):
            assert await control.login("Victim", "a-wrong-guess", "192.0.2.7") is None
        counts = {key: control.throttle.count(key, time.monotonic()) for key in ("user:victim", "addr:192.0.2.7", "user:someone")}
        assert counts == {"user:victim": FREE_FAILURES, "addr:192.0.2.7": FREE_FAILURES, "user:someone": 0}
        principal = await control.login("victim", "the-right-password", "192.0.2.7")
        assert principal is not None and principal.name == "victim"
        assert control.throttle.count("user:victim", time.monotonic()) == 0
    finally:
        meta.close()


def guess(url: str, how: str, user: str, secret: str) -> httpx.Response:
    """One login attempt at the token endpoint (GET or POST) or straight at `/v2/` (Basic)."""
    if how == "post":
        form = {"grant_type": "password", "username": user, "password": secret, "service": "tinyreg"}
        return httpx.post(f"{url}/token", data=form, timeout=120)
    if how == "v2":
        return httpx.get(f"{url}/v2/", headers=basic_auth(user, secret), timeout=120)
    return get_token(url, [], basic_auth(user, secret))


def test_parallel_guesses_are_counted_before_checking_and_refused_past_the_budget(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """40 guesses at once: at most BUDGET passwords are hashed; the rest, and then the right one, get 429."""
    caplog.set_level(logging.WARNING, logger="tinyreg")
    with run_registry(tmp_path / "data", auth=True) as registry:
        registry.create_user("victim", "the-right-password")
        registry.create_project("victim/app", owner="victim")
        personal = registry.create_token("victim")
        deploy_user, deploy_secret = registry.create_deploy_token("victim/app")
        ways = ["get", "post", "v2"]
        with ThreadPoolExecutor(max_workers=39) as pool:
            answers = list(pool.map(lambda n: guess(registry.url, ways[n % 3], "victim", f"wrong-{n}"), range(39)))
        statuses = Counter(answer.status_code for answer in answers)
        # every 401 is one password check; a 429 costs none
        assert set(statuses) == {401, 429} and statuses[401] <= BUDGET, statuses
        right = guess(registry.url, "get", "victim", "the-right-password")
        for answer in [right, *(a for a in answers if a.status_code == 429)]:
            assert_error(answer, 429, "TOOMANYREQUESTS")
            assert 0 < int(answer.headers["Retry-After"]) <= WINDOW
        # CI logging in with a token is not locked out by someone else's failures, even from the same address
        assert guess(registry.url, "get", deploy_user, deploy_secret).status_code == 200
        assert guess(registry.url, "post", "victim", personal).status_code == 200
        assert guess(registry.url, "v2", "victim", personal).status_code == 200
        assert_error(guess(registry.url, "get", "victim", personal[:-2] + "xx"), 429, "TOOMANYREQUESTS")
    warnings = [r.getMessage() for r in caplog.records if r.name == "tinyreg" and "too many failed logins" in r.getMessage()]
    assert sorted(w.split()[5:7] for w in warnings) == [["addr", "127.0.0.1:"], ["user", "victim:"]], warnings


# -- how long tokens and their keys are trusted -----------------------------------------------


@pytest.mark.parametrize("lifetime", [10 * 365 * 86400, 86400], ids=["ten-years", "a-refresh-tokens-day"])
def test_a_genuinely_signed_token_living_longer_than_allowed_is_refused(world: AuthWorld, lifetime: int) -> None:
    genuine = token_for(world.url, ["repository:team/app:pull"], world.login("bob"))
    claims = jwt_sections(genuine)[1]
    ring = KeyRing(world.registry.data_dir / "keys", max_token_age=86400)
    long_lived = ring.sign({**claims, "exp": claims["iat"] + lifetime})
    assert world.pull_status("team/app", bearer_auth(genuine)) == 200
    with world.client(bearer_auth(long_lived)) as api:
        response = api.get("/v2/team/app/manifests/v1")
    assert_error(response, 401, "UNAUTHORIZED")
    assert challenge_params(response)["error"] == "invalid_token"


def test_a_running_server_stops_trusting_a_key_retired_longer_than_any_token_lives(tmp_path: Path) -> None:
    with run_registry(tmp_path / "data", auth=True) as registry:
        registry.create_user("bob", "bobs-password-123")
        registry.create_project("bob/app", owner="bob")
        registry.push_image("bob/app", "v1")
        old = token_for(registry.url, ["repository:bob/app:pull"], basic_auth("bob", "bobs-password-123"))
        old_kid = jwt_sections(old)[0]["kid"]
        admin_ok(registry.data_dir, "keys", "rotate")
        retired = registry.data_dir / "keys" / f"{old_kid}.retired"
        assert retired.exists()
        with httpx.Client(base_url=registry.url, headers=bearer_auth(old), timeout=60) as api:
            assert api.get("/v2/bob/app/tags/list").status_code == 200, "a just-retired key still verifies"
            # as if the rotation happened longer ago than the server's longest token lifetime
            retired.write_text(str(time.time() - 86_400 - DEFAULT_LEEWAY - 60))
            os.utime(registry.data_dir / "keys" / "active")
            response = api.get("/v2/bob/app/tags/list")
        assert_error(response, 401, "UNAUTHORIZED")
        assert challenge_params(response)["error"] == "invalid_token"

"""The panel over plain HTTP, as a browser without JavaScript: cookies, CSRF, refusals, throttling."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from tinyreg import samples
from tinyreg.testing import RunningRegistry, run_registry

from tests.auth_helpers import AuthWorld, basic_auth, get_token
from tests.panel.browsing import PanelClient


def cookie_attributes(response: httpx.Response, name: str) -> list[str]:
    """The attributes of the `Set-Cookie` header that sets `name` (lower-cased)."""
    for header in response.headers.get_list("set-cookie"):
        if header.startswith(f"{name}="):
            return [part.strip().lower() for part in header.split(";")]
    raise AssertionError(f"no cookie {name} set: {response.headers}")


def test_a_session_cookie_is_httponly_samesite_and_expires(world: AuthWorld) -> None:
    client = PanelClient(world.url)
    response = client.sign_in("alice", world.PASSWORDS["alice"])
    assert response.status_code == 303 and response.headers["Location"] == "/"
    attributes = cookie_attributes(response, "tinyreg_session")
    assert "httponly" in attributes and "samesite=lax" in attributes and "path=/" in attributes
    assert "max-age=43200" in attributes
    assert "secure" not in attributes  # plain HTTP: a Secure cookie would never come back
    page = client.http.get("/")
    assert page.status_code == 200 and '<a href="/-/user_settings">alice</a>' in page.text
    assert "script-src 'nonce-" in page.headers["Content-Security-Policy"]
    client.close()


def test_a_session_cookie_is_secure_behind_an_https_proxy(world: AuthWorld) -> None:
    client = PanelClient(world.url)
    form = {"csrf_token": client.csrf(), "username": "alice", "password": world.PASSWORDS["alice"]}
    response = client.http.post("/users/sign_in", data=form, headers={"X-Forwarded-Proto": "https"})
    assert response.status_code == 303
    assert "secure" in cookie_attributes(response, "tinyreg_session")
    client.close()


def test_a_form_without_its_csrf_token_is_refused(world: AuthWorld) -> None:
    client = PanelClient(world.url)
    refused = client.http.post("/users/sign_in", data={"username": "alice", "password": world.PASSWORDS["alice"]})
    assert refused.status_code == 403 and "Form expired or forged" in refused.text
    assert "tinyreg_session" not in refused.headers.get("set-cookie", "")
    client.signed_in("alice", world.PASSWORDS["alice"])
    for data in ({}, {"csrf_token": "not-the-token"}):
        forged = client.http.post("/team/app/-/tags/delete", data={**data, "only": "v1", "confirmed": "yes"})
        assert forged.status_code == 403 and "nothing was done" in forged.text
    assert world.pull_status("team/app", world.login("alice")) == 200
    client.close()


def test_a_reporter_sees_no_delete_button_and_a_forged_delete_is_refused(world: AuthWorld) -> None:
    bob = PanelClient(world.url).signed_in("bob", world.PASSWORDS["bob"])
    page = bob.http.get("/team/app/-/tags")
    assert page.status_code == 200 and "v1" in page.text
    assert "Delete" not in page.text and 'name="tag"' not in page.text
    # A valid session and CSRF token, but a role that may not delete: the policy refuses.
    forged = bob.post("/team/app/-/tags/delete", {"only": "v1", "confirmed": "yes"}, csrf_from="/team/app/-/tags")
    assert forged.status_code == 403 and "reporter" in forged.text
    gone = bob.post("/team/app/-/delete", {"confirm_path": "team/app"}, csrf_from="/team/app/-/tags")
    assert gone.status_code == 403
    settings = bob.http.get("/team/app/-/settings")
    assert settings.status_code == 403
    assert world.pull_status("team/app", world.login("alice")) == 200
    bob.close()


def test_a_private_project_is_not_found_for_others(world: AuthWorld) -> None:
    carol = PanelClient(world.url).signed_in("carol", world.PASSWORDS["carol"])
    for path in ("/team/app/-/container_registry", "/team/app/-/tags", "/team/app/-/settings"):
        assert carol.http.get(path).status_code == 404
    assert carol.http.get("/pub/site/-/tags").status_code == 200  # public
    assert "team/app" not in carol.http.get("/").text
    carol.close()
    anonymous = httpx.get(f"{world.url}/")
    assert "pub/site" in anonymous.text and "team/app" not in anonymous.text


def test_script_in_an_annotation_shows_as_text(world: AuthWorld) -> None:
    evil = '<script>alert("tag")</script>'
    world.registry.push(
        "pub/site/notes", samples.artifact({"a.txt": b"a"}, artifact_type="text/plain", annotations={"note": evil}), "evil"
    )
    page = httpx.get(f"{world.url}/pub/site/notes/-/tags")
    assert page.status_code == 200
    assert "&lt;script&gt;alert(&#34;tag&#34;)&lt;/script&gt;" in page.text
    assert evil not in page.text


def test_password_change_and_removal_end_sessions(world: AuthWorld) -> None:
    world.registry.create_user("dave", "dave-password-1")
    first = PanelClient(world.url).signed_in("dave", "dave-password-1")
    second = PanelClient(world.url).signed_in("dave", "dave-password-1")
    changed = first.post(
        "/-/user_settings/password",
        {"current_password": "dave-password-1", "new_password": "dave-password-2", "confirm_password": "dave-password-2"},
    )
    assert changed.status_code == 303, changed.text[:500]
    first.http.cookies.update(changed.cookies)
    assert "dave</a>" in first.http.get("/").text  # the browser that changed it stays signed in
    assert "dave</a>" not in second.http.get("/").text and second.http.get("/-/user_settings").status_code == 401
    root = PanelClient(world.url).signed_in("root", world.PASSWORDS["root"])
    removed = root.post("/admin/users/dave/remove", {"confirmed": "yes"})
    assert removed.status_code == 303
    assert first.http.get("/-/user_settings").status_code == 401
    for client in (first, second, root):
        client.close()


def test_signing_out_ends_the_session(world: AuthWorld) -> None:
    client = PanelClient(world.url).signed_in("carol", world.PASSWORDS["carol"])
    out = client.post("/users/sign_out", {})
    assert out.status_code == 303 and out.headers["Location"] == "/users/sign_in"
    assert "max-age=0" in cookie_attributes(out, "tinyreg_session")
    assert client.http.get("/-/user_settings").status_code == 401
    client.close()


def test_sign_ins_are_throttled_like_registry_logins(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="tinyreg.access")
    with run_registry(tmp_path / "data", auth=True) as registry:
        registry.create_user("erin", "erin-password-1")
        client = PanelClient(registry.url)
        token = client.csrf()

        def wrong(_: int) -> int:
            form = {"csrf_token": token, "username": "erin", "password": "wrong-password"}
            return httpx.post(f"{registry.url}/users/sign_in", data=form, cookies=client.http.cookies, timeout=60).status_code

        with ThreadPoolExecutor(max_workers=10) as pool:  # in parallel: the growing waits overlap
            statuses = list(pool.map(wrong, range(10)))
        assert set(statuses) <= {401, 429}, statuses
        refused = client.sign_in("erin", "erin-password-1")  # even the right password: held back
        assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
        assert "too many failed logins" in refused.text
        # the registry's own logins share the count
        assert get_token(registry.url, [], basic_auth("erin", "erin-password-1")).status_code == 429
        client.close()
    assert any("refused login of 'erin'" in record.getMessage() for record in caplog.records)


def test_an_open_registry_says_so_and_lists_its_images(tinyreg: RunningRegistry) -> None:
    page = httpx.get(f"{tinyreg.url}/")
    assert page.status_code == 200 and "runs without <code>--auth</code>" in page.text
    assert f"docker login {tinyreg.host}" in page.text
    tinyreg.push_image("team/app", "1.0")
    client = PanelClient(tinyreg.url)
    assert "team/app" in client.http.get("/").text
    deleted = client.post("/team/app/-/tags/delete", {"only": "1.0", "confirmed": "yes"}, csrf_from="/team/app/-/tags")
    assert deleted.status_code == 303
    assert httpx.get(f"{tinyreg.url}/v2/team/app/tags/list").json()["tags"] in (None, [])
    for page_of_users in ("/users/sign_in", "/-/user_settings", "/admin/users", "/team/app/-/settings"):
        assert httpx.get(f"{tinyreg.url}{page_of_users}").status_code == 404
    client.close()

"""The panel in a real browser (headless chromium): what people see and click, with screenshots."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from tinyreg import samples
from tinyreg.testing import RunningRegistry

from tests.auth_helpers import AuthWorld, basic_auth, get_token
from tests.panel.browsing import Shots, sign_in

pytestmark = pytest.mark.browser


def registry_login_status(url: str, username: str, secret: str) -> int:
    """The status of a registry login (`GET /token` with Basic credentials), as docker does it."""
    return get_token(url, ["repository:alice/shop/web:pull"], basic_auth(username, secret)).status_code


def tag_names(page: Any) -> list[str]:
    names: list[str] = page.locator("li.tag .tag-name").all_inner_texts()
    return names


def tag_row(page: Any, name: str) -> Any:
    return page.locator("li.tag", has=page.locator(".tag-name", has_text=name))


def test_an_owner_pushes_sees_and_deletes_images(world: AuthWorld, page: Any, shots: Shots) -> None:
    registry = world.registry
    registry.create_project("alice/shop", owner="alice")
    page.goto(f"{world.url}/users/sign_in")
    shots.take(page, "01-sign-in")
    sign_in(page, world.url, "alice", world.PASSWORDS["alice"])
    shots.take(page, "02-projects")
    page.click("a:has-text('alice/shop')")
    page.wait_for_selector("h1:has-text('Container Registry')")
    commands = page.locator("pre").all_inner_texts()
    host = registry.host
    assert f"docker login {host}" in commands
    assert f"docker build -t {host}/alice/shop/image ." in commands
    assert f"docker push {host}/alice/shop/image" in commands
    assert f"podman push --tls-verify=false {host}/alice/shop/image" in commands
    shots.take(page, "03-empty-project")

    digests = {tag: registry.push_image("alice/shop/web", tag, layers=2) for tag in ("1.0", "1.1", "2.0", "latest")}
    sbom = {"sbom.json": b"{}"}
    registry.push_artifact("alice/shop/web", None, sbom, artifact_type="application/spdx+json", subject=digests["latest"])
    children = [samples.image(architecture=arch, seed=arch) for arch in ("amd64", "arm64")]
    for child in children:
        registry.push("alice/shop/web", child, None)
    registry.push(
        "alice/shop/web", samples.index(children, [{"os": "linux", "architecture": a} for a in ("amd64", "arm64")]), "multi"
    )
    registry.push_image("alice/shop/api", "v1")
    evil = "<script>document.title='owned'</script>"
    registry.push("alice/shop/api", samples.artifact({"a": b"a"}, artifact_type="text/plain", annotations={"note": evil}), "note")

    page.reload()
    names = page.locator("tbody td.name").all_inner_texts()
    assert names == ["alice/shop/api", "alice/shop/web"]
    shots.take(page, "04-project-repositories")
    page.click("a:has-text('alice/shop/web')")
    page.wait_for_selector("h1:has-text('alice/shop/web')")
    assert tag_names(page) == ["1.0", "1.1", "2.0", "latest", "multi"]
    first = page.locator("li.tag").first
    assert "2 layers" in first.inner_text() and re.search(r"\b\d+(\.\d)? (B|KiB)\b", first.inner_text())
    multi = tag_row(page, "multi")
    assert "index" in multi.inner_text() and "amd64, arm64" in multi.inner_text()
    multi.locator("summary").click()
    assert "application/vnd.oci.image.index.v1+json" in multi.inner_text()
    latest = tag_row(page, "latest")
    latest.locator("summary").click()
    assert digests["latest"] in latest.inner_text() and "application/spdx+json" in latest.inner_text()
    shots.take(page, "05-repository-tags")

    tag_row(page, "1.1").locator("button:has-text('Delete')").click()  # the dialog is accepted
    page.wait_for_selector("text=Deleted 1 tag.")
    assert tag_names(page) == ["1.0", "2.0", "latest", "multi"]
    page.check("input[name=tag][value='1.0']")
    page.check("input[name=tag][value='2.0']")
    page.click("button:has-text('Delete selected')")
    page.wait_for_selector("text=Deleted 2 tags.")
    assert tag_names(page) == ["latest", "multi"]
    assert httpx.get(f"{world.url}/v2/alice/shop/web/tags/list", headers=world.login("alice")).json()["tags"] == [
        "latest",
        "multi",
    ]

    page.goto(f"{world.url}/alice/shop/api/-/tags")
    tag_row(page, "note").locator("summary").click()
    assert evil in page.locator("ul.tags").inner_text()  # shown as text, never run
    assert page.title() != "owned"
    page.fill("form[action$='/-/delete'] input[name=confirm_path]", "alice/shop/api")  # not the move form's
    page.click("button:has-text('Delete repository')")
    page.wait_for_selector("text=Repository alice/shop/api was deleted.")
    assert page.locator("tbody td.name").all_inner_texts() == ["alice/shop/web"]


def test_deleting_without_javascript_asks_on_a_page(world: AuthWorld, browser: Any, shots: Shots) -> None:
    world.registry.push_image("pub/site/nojs", "old")
    world.registry.push_image("pub/site/nojs", "keep")
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    sign_in(page, world.url, "alice", world.PASSWORDS["alice"])
    page.goto(f"{world.url}/pub/site/nojs/-/tags")
    assert page.locator("[data-copy]").first.is_hidden()  # copy buttons need JavaScript: not shown
    tag_row(page, "old").locator("button:has-text('Delete')").click()
    page.wait_for_selector("h1:has-text('Delete 1 tag of pub/site/nojs?')")
    shots.take(page, "10-confirm-without-javascript")
    page.click("button:has-text('Delete')")
    page.wait_for_selector("text=Deleted 1 tag.")
    assert tag_names(page) == ["keep"]
    context.close()


def test_personal_and_deploy_tokens_are_made_used_and_revoked(world: AuthWorld, page: Any, shots: Shots) -> None:
    world.registry.create_project("alice/tokens", owner="alice")
    sign_in(page, world.url, "alice", world.PASSWORDS["alice"])
    page.goto(f"{world.url}/-/user_settings")
    page.fill("#tokens ~ form input[name=name]", "laptop")
    page.check("#tokens ~ form input[value=write_registry]")
    page.click("button:has-text('Create token')")
    secret = page.inner_text("#new-token-secret")
    assert secret.startswith("trp_")
    shots.take(page, "06-user-settings-new-token")
    assert registry_login_status(world.url, "alice", secret) == 200
    page.goto(f"{world.url}/-/user_settings")
    assert secret not in page.content()  # shown once
    page.locator("#personal-tokens-table tr", has_text="laptop").locator("button:has-text('Revoke')").click()
    page.wait_for_selector("text=Saved.")
    assert "revoked" in page.locator("#personal-tokens-table tr", has_text="laptop").inner_text()
    assert registry_login_status(world.url, "alice", secret) == 401

    page.goto(f"{world.url}/alice/tokens/-/settings")
    page.fill("#deploy-tokens ~ form input[name=name]", "ci")
    page.click("button:has-text('Create token')")
    deploy_secret = page.inner_text("#new-token-secret")
    deploy_user = page.inner_text("#new-token-user")
    assert deploy_user.startswith("tinyreg+deploy-token-") and deploy_secret.startswith("trd_")
    shots.take(page, "07-project-settings-deploy-token")
    scope = ["repository:alice/tokens/app:pull"]
    assert get_token(world.url, scope, basic_auth(deploy_user, deploy_secret)).status_code == 200
    page.goto(f"{world.url}/alice/tokens/-/settings")
    page.locator("#deploy-tokens-table tr", has_text="ci").locator("button:has-text('Revoke')").click()
    page.wait_for_selector("text=Saved.")
    assert get_token(world.url, scope, basic_auth(deploy_user, deploy_secret)).status_code == 401


def test_a_tokens_only_user_signs_in_with_a_token(world: AuthWorld, page: Any, shots: Shots) -> None:
    sign_in(page, world.url, "root", world.PASSWORDS["root"])
    page.goto(f"{world.url}/admin/users")
    page.fill("input[name=name][required]", "robot")
    page.check("input[type=checkbox][name=tokens_only]")
    page.click("button:has-text('Create user')")
    page.wait_for_selector("text=Saved: robot.")
    shots.take(page, "08-admin-users")
    page.goto(f"{world.url}/admin/projects")
    page.fill("input[name=path]", "robots/fleet")
    page.fill("input[name=owner]", "robot")
    page.click("button:has-text('Create project')")
    page.wait_for_selector("text=Saved: robots/fleet.")
    page.click("button:has-text('Sign out')")
    page.wait_for_selector("h1:has-text('Sign in')")

    secret = world.registry.create_token("robot", ["read_registry"])
    page.fill("input[name=username]", "robot")
    page.fill("input[name=password]", "robots-have-no-password")
    page.click("button[type=submit]:has-text('Sign in')")
    assert "invalid user name or password" in page.inner_text(".problem")
    sign_in(page, world.url, "robot", secret)
    assert "robots/fleet" in page.locator("tbody").inner_text()
    page.goto(f"{world.url}/-/user_settings")
    assert "read_registry" in page.inner_text("main") and "write_registry" not in page.inner_text("#tokens ~ form")


def test_a_reporter_sees_no_delete_buttons(world: AuthWorld, page: Any, shots: Shots) -> None:
    sign_in(page, world.url, "bob", world.PASSWORDS["bob"])
    page.goto(f"{world.url}/team/app/-/tags")
    assert tag_names(page) == ["v1"]
    assert page.locator("button:has-text('Delete')").count() == 0
    assert page.locator("input[name=tag]").count() == 0
    assert page.locator("input[name=confirm_path]").count() == 0
    shots.take(page, "09-reporter-tags")
    page.click("button:has-text('Sign out')")
    page.goto(f"{world.url}/-/user_settings")
    assert page.inner_text("h1") == "Sign in first"


def test_an_open_registry_says_so_and_lists_every_repository(tinyreg: RunningRegistry, page: Any, shots: Shots) -> None:
    page.goto(f"{tinyreg.url}/")
    assert "runs without --auth" in page.inner_text(".banner")
    assert f"docker login {tinyreg.host}" in page.locator("pre").all_inner_texts()
    tinyreg.push_image("team/app", "1.0")
    tinyreg.push_image("other/tool", "2.0")
    page.reload()
    assert page.locator("tbody td.name").all_inner_texts() == ["other/tool", "team/app"]
    shots.take(page, "11-open-registry")
    page.click("a:has-text('team/app')")
    tag_row(page, "1.0").locator("button:has-text('Delete')").click()
    page.wait_for_selector("text=Deleted 1 tag.")

"""Webhooks on a project's settings page: added, listed without their secret, deleted; by its
maintainers only, with the form's CSRF token; and in a real browser, a hook added there delivers."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from tinyreg.registry.project_hooks import list_hooks

from tests.auth_helpers import AuthWorld, token_for
from tests.manifest_builders import push_image
from tests.notify_helpers import Receiver
from tests.panel.browsing import PanelClient, Shots, sign_in

SETTINGS = "/team/app/-/settings"


def hooks_of(world: AuthWorld, path: str = "team/app") -> list[tuple[int, dict[str, Any]]]:
    return list_hooks(world.registry._registry.meta, path)


def test_a_maintainer_adds_lists_and_deletes_a_hook(world: AuthWorld) -> None:
    alice = PanelClient(world.url).signed_in("alice", world.PASSWORDS["alice"])
    form = {"url": "http://127.0.0.1:9/panel-hook", "token": "panel-s3cret", "registry_actions": ["push", "pull"]}
    added = alice.post(f"{SETTINGS}/hooks", form, csrf_from=SETTINGS)
    assert added.status_code == 303 and added.headers["Location"].endswith("#hooks")
    page = alice.http.get(SETTINGS)
    assert "http://127.0.0.1:9/panel-hook" in page.text and "push, pull" in page.text
    assert "panel-s3cret" not in page.text
    [(hook_id, row)] = [(i, r) for i, r in hooks_of(world) if r["url"] == "http://127.0.0.1:9/panel-hook"]
    assert row["token"] == "panel-s3cret" and row["enable_ssl_verification"] is False  # the box was not ticked
    deleted = alice.post(f"{SETTINGS}/hooks/{hook_id}/delete", {}, csrf_from=SETTINGS)
    assert deleted.status_code == 303
    assert all(r["url"] != "http://127.0.0.1:9/panel-hook" for _, r in hooks_of(world))
    alice.close()


def test_a_bad_url_is_refused_and_nothing_stored(world: AuthWorld) -> None:
    alice = PanelClient(world.url).signed_in("alice", world.PASSWORDS["alice"])
    before = hooks_of(world)
    refused = alice.post(f"{SETTINGS}/hooks", {"url": "javascript:alert(1)"}, csrf_from=SETTINGS)
    assert refused.status_code == 400 and "Webhook: url must be an http:// or https:// URL" in refused.text
    assert hooks_of(world) == before
    alice.close()


def test_forged_or_unallowed_hook_forms_are_refused(world: AuthWorld) -> None:
    alice = PanelClient(world.url).signed_in("alice", world.PASSWORDS["alice"])
    forged = alice.http.post(f"{SETTINGS}/hooks", data={"url": "http://127.0.0.1:9/forged"})
    assert forged.status_code == 403
    bob = PanelClient(world.url).signed_in("bob", world.PASSWORDS["bob"])  # a reporter
    refused = bob.post(f"{SETTINGS}/hooks", {"url": "http://127.0.0.1:9/bob"}, csrf_from="/")
    assert refused.status_code == 403
    assert all(r["url"] not in ("http://127.0.0.1:9/forged", "http://127.0.0.1:9/bob") for _, r in hooks_of(world))
    alice.close()
    bob.close()


@pytest.mark.browser
def test_a_hook_added_in_the_browser_gets_the_projects_pushes(
    world: AuthWorld, page: Any, shots: Shots, receiver: Receiver
) -> None:
    sign_in(page, world.url, "alice", world.PASSWORDS["alice"])
    page.goto(f"{world.url}{SETTINGS}#hooks")
    form = page.locator("form#new-hook")
    form.locator("input[name=url]").fill(receiver.url)
    form.locator("input[name=token]").fill("browser-s3cret")
    form.locator("input[name=enable_ssl_verification]").uncheck()
    form.locator("button:has-text('Add webhook')").click()
    page.wait_for_selector(f"#hooks-table td:has-text('{receiver.url}')")
    shots.take(page, "hooks-added")
    assert "browser-s3cret" not in page.content()

    token = token_for(world.url, ["repository:team/app:pull,push"], world.login("alice"))
    with httpx.Client(base_url=world.url, headers={"Authorization": f"Bearer {token}"}, timeout=60) as client:
        pushed = push_image(client, "team/app", "from-browser-test", seed="browser-hook")
    assert receiver.wait_for(lambda r: any(e["target"]["digest"] == pushed.digest for e in r.events()))
    assert {post.headers["x-gitlab-token"] for post in receiver.posts} == {"browser-s3cret"}

    row = page.locator("#hooks-table tr", has=page.locator(f"td:has-text('{receiver.url}')"))
    row.locator("button:has-text('Delete')").click()  # the confirmation dialog is accepted
    page.wait_for_selector("h2#hooks")
    assert page.locator(f"#hooks-table td:has-text('{receiver.url}')").count() == 0

"""Listings and settings over plain HTTP: search, sort, pages; members, visibility, the registry
switch; what a sign-in with a registry-only token may not change."""

from __future__ import annotations

import re
import time

import httpx
from tinyreg.registry.cleanup import policy_of

from tests.auth_helpers import AuthWorld
from tests.panel.browsing import PanelClient


def tag_names(html: str) -> list[str]:
    return re.findall(r'<span class="tag-name">([^<]*)</span>', html)


def repository_names(html: str) -> list[str]:
    return re.findall(r'<td class="name"><a href="/[^"]*/-/tags">([^<]*)</a>', html)


def test_tags_are_filtered_sorted_and_paged(world: AuthWorld) -> None:
    for number in range(25):
        world.registry.push_image("pub/site/many", f"v{number:02d}")
    world.registry.push_image("pub/site/many", "a-newest")  # pushed last, first by name
    page = "/pub/site/many/-/tags"
    first = httpx.get(f"{world.url}{page}").text
    assert tag_names(first) == ["a-newest"] + [f"v{n:02d}" for n in range(19)]
    assert "Page 1 of 2" in first and 'rel="next"' in first
    second = httpx.get(f"{world.url}{page}", params={"page": "2"}).text
    assert tag_names(second) == [f"v{n:02d}" for n in range(19, 25)]
    newest = httpx.get(f"{world.url}{page}", params={"sort": "updated", "order": "desc"}).text
    assert tag_names(newest)[0] == "a-newest"
    by_name_desc = httpx.get(f"{world.url}{page}", params={"sort": "name", "order": "desc"}).text
    assert tag_names(by_name_desc)[0] == "v24"
    found = httpx.get(f"{world.url}{page}", params={"search": "v1"}).text
    assert tag_names(found) == [f"v{n}" for n in range(10, 20)]
    nonsense = httpx.get(f"{world.url}{page}", params={"sort": "nonsense", "page": "x"})
    assert nonsense.status_code == 200 and tag_names(nonsense.text)[0] == "a-newest"


def test_repositories_are_searched_and_sorted_by_update(world: AuthWorld) -> None:
    world.registry.push_image("pub/site/zeta", "1")
    time.sleep(0.01)  # distinct push times, so the order by update is defined
    world.registry.push_image("pub/site/alpha", "1")
    page = "/pub/site/-/container_registry"
    names = repository_names(httpx.get(f"{world.url}{page}").text)
    assert names.index("pub/site/alpha") < names.index("pub/site/zeta")
    recent = repository_names(httpx.get(f"{world.url}{page}", params={"sort": "updated", "order": "desc"}).text)
    assert recent.index("pub/site/alpha") < recent.index("pub/site/zeta")
    assert repository_names(httpx.get(f"{world.url}{page}", params={"search": "zet"}).text) == ["pub/site/zeta"]
    projects = httpx.get(f"{world.url}/", params={"search": "PUB"}).text
    assert "pub/site" in projects and "team/app" not in projects


def test_an_owner_manages_members_visibility_and_the_registry(world: AuthWorld) -> None:
    world.registry.create_project("alice/crew", owner="alice")
    world.registry.push_image("alice/crew", "v1")
    alice = PanelClient(world.url).signed_in("alice", world.PASSWORDS["alice"])
    settings = "/alice/crew/-/settings"
    assert alice.post(f"{settings}/members", {"user": "carol", "role": "developer"}, csrf_from=settings).status_code == 303
    carol = PanelClient(world.url).signed_in("carol", world.PASSWORDS["carol"])
    assert "Delete" in carol.http.get("/alice/crew/-/tags").text
    assert alice.post(f"{settings}/members", {"user": "carol", "role": "reporter"}, csrf_from=settings).status_code == 303
    assert "Delete" not in carol.http.get("/alice/crew/-/tags").text
    unknown = alice.post(f"{settings}/members", {"user": "nobody", "role": "reporter"}, csrf_from=settings)
    assert unknown.status_code == 400 and "no user" in unknown.text

    assert httpx.get(f"{world.url}/alice/crew/-/tags").status_code == 404
    public = alice.post(f"{settings}/general", {"visibility": "public", "registry": "on"}, csrf_from=settings)
    assert public.status_code == 303 and httpx.get(f"{world.url}/alice/crew/-/tags").status_code == 200
    off = alice.post(f"{settings}/general", {"visibility": "public", "registry": "off"}, csrf_from=settings)
    assert off.status_code == 303
    assert world.pull_status("alice/crew", world.login("alice")) in (401, 403)
    page = alice.http.get("/alice/crew/-/container_registry")
    assert page.status_code == 200 and "switched off" in page.text
    assert alice.http.get(settings).status_code == 200  # so it can be switched on again
    assert '<td class="name">carol</td>' in alice.http.get(settings).text
    assert alice.post(f"{settings}/members", {"user": "carol", "remove": "1"}, csrf_from=settings).status_code == 303
    assert '<td class="name">carol</td>' not in alice.http.get(settings).text
    for client in (alice, carol):
        client.close()


def test_a_sign_in_with_a_registry_token_reaches_images_not_settings(world: AuthWorld) -> None:
    secret = world.registry.create_token("root", ["read_registry", "write_registry"])
    root = PanelClient(world.url).signed_in("root", secret)
    assert root.http.get("/team/app/-/tags").status_code == 200
    assert root.http.get("/admin/users").status_code == 404
    assert root.http.get("/team/app/-/settings").status_code == 403
    assert 'href="/admin"' not in root.http.get("/").text
    api_secret = world.registry.create_token("root", ["api"])
    admin = PanelClient(world.url).signed_in("root", api_secret)
    assert admin.http.get("/admin/users").status_code == 200
    for client in (root, admin):
        client.close()


def test_a_group_role_holds_in_the_projects_below_it(world: AuthWorld) -> None:
    root = PanelClient(world.url).signed_in("root", world.PASSWORDS["root"])
    created = root.post("/admin/groups", {"path": "acme", "visibility": "private", "owner": "alice"}, csrf_from="/admin/groups")
    assert created.status_code == 303 and "acme" in root.http.get("/admin/groups").text
    assert root.post("/admin/projects", {"path": "acme/web"}, csrf_from="/admin/projects").status_code == 303
    world.registry.push_image("acme/web", "v1")
    carol = PanelClient(world.url).signed_in("carol", world.PASSWORDS["carol"])
    assert carol.http.get("/acme/web/-/tags").status_code == 404
    world.registry.add_group_member("acme", "carol", "developer")
    assert "acme/web" in carol.http.get("/").text
    tags = carol.http.get("/acme/web/-/tags")
    assert tags.status_code == 200 and "Delete" in tags.text
    assert carol.http.get("/acme/web/-/settings").status_code == 403
    alice = PanelClient(world.url).signed_in("alice", world.PASSWORDS["alice"])  # the group's owner
    assert alice.http.get("/acme/web/-/settings").status_code == 200
    duplicate = root.post("/admin/groups", {"path": "acme"}, csrf_from="/admin/groups")
    assert duplicate.status_code == 400 and "already exists" in duplicate.text
    for client in (root, carol, alice):
        client.close()


def test_settings_show_the_usage_and_only_an_admin_sets_the_size_limit(world: AuthWorld) -> None:
    world.registry.create_project("alice/store", owner="alice")
    world.registry.push_image("alice/store", "v1")
    with world.registry._registry.meta.read() as tx:
        used = tx.usage_total("project", "alice/store")
    settings = "/alice/store/-/settings"
    alice = PanelClient(world.url).signed_in("alice", world.PASSWORDS["alice"])
    page = alice.http.get(settings).text
    assert "no size limit" in page and 'name="size_limit"' not in page  # a maintainer sees, may not set
    refused = alice.post(f"{settings}/size_limit", {"size_limit": "1GB"}, csrf_from=settings)
    assert refused.status_code == 403
    root = PanelClient(world.url).signed_in("root", world.PASSWORDS["root"])
    bad = root.post(f"{settings}/size_limit", {"size_limit": "lots"}, csrf_from=settings)
    assert bad.status_code == 400 and "Size limit" in bad.text
    tight = used + used // 20  # the project is now at ~95 % of its limit
    assert root.post(f"{settings}/size_limit", {"size_limit": str(tight)}, csrf_from=settings).status_code == 303
    page = alice.http.get(settings).text
    assert "near or over its size limit" in page and "%)" in page
    assert (world.registry._access.project("alice/store") or {}).get("size_limit") == tight
    assert root.post(f"{settings}/size_limit", {"size_limit": "default"}, csrf_from=settings).status_code == 303
    assert "no size limit" in alice.http.get(settings).text
    for client in (alice, root):
        client.close()


def test_a_maintainer_sets_the_cleanup_policy_and_bad_values_are_refused(world: AuthWorld) -> None:
    world.registry.create_project("alice/tidy", owner="alice")
    settings = "/alice/tidy/-/settings"
    alice = PanelClient(world.url).signed_in("alice", world.PASSWORDS["alice"])
    policy = {"enabled": "on", "cadence": "7d", "keep_n": "5", "older_than": "14d", "name_regex": "ci-.*", "name_regex_keep": ""}
    assert alice.post(f"{settings}/cleanup_policy", policy, csrf_from=settings).status_code == 303
    page = alice.http.get(settings).text
    assert "<option selected>7d</option>" in page and 'value="ci-.*"' in page and "Next run:" in page
    stored = policy_of(world.registry._registry.meta, "alice/tidy") or {}
    assert (stored["enabled"], stored["keep_n"], stored["older_than"], stored["name_regex_keep"]) == (True, 5, "14d", None)
    bad = alice.post(f"{settings}/cleanup_policy", {**policy, "keep_n": "7"}, csrf_from=settings)
    assert bad.status_code == 400 and "keep_n must be one of" in bad.text
    unclosed = alice.post(f"{settings}/cleanup_policy", {**policy, "name_regex": "ci-("}, csrf_from=settings)
    assert unclosed.status_code == 400 and "name_regex" in unclosed.text
    assert 'value="ci-.*"' in alice.http.get(settings).text  # the refused forms changed nothing
    alice.close()

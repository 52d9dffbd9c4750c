"""Refusals over HTTP (`--auth`): no repository outside a project, no silent takeover of
repositories by a new project, and every refusal saying why in its error body and in the log.

One registry serves the module, with `AuthWorld`'s cast; tests that change the access model use
names of their own.
"""

from __future__ import annotations

import logging

import httpx
import pytest
from tinyreg.access.store import AccessError

from tests.auth_helpers import AuthWorld, admin_ok, basic_auth, bearer_auth, get_token, granted_access, tinyreg_admin, token_for
from tests.helpers import assert_error
from tests.manifest_builders import OCI_MANIFEST, push_image

NAMING_RULE = "<project path>/<at most two more components>"


@pytest.fixture
def world(auth_world: AuthWorld) -> AuthWorld:
    return auth_world


def refusal(status: int, code: str, response: httpx.Response) -> str:
    """The message of `response`, checked to be the spec's error `code` with `status`."""
    return assert_error(response, status, code)["message"]


# -- no repository outside a project -------------------------------------------------------


@pytest.mark.parametrize(
    ("repo", "words"),
    [
        ("nosuch/project", ["belongs to no project", NAMING_RULE, "tinyreg project create PATH"]),
        ("team/app/a/b/c", ["belongs to no project", NAMING_RULE, "nearest project is team/app", "team/app/a/b at most"]),
    ],
)
def test_an_admin_cannot_push_a_repository_no_project_owns(
    world: AuthWorld, caplog: pytest.LogCaptureFixture, repo: str, words: list[str]
) -> None:
    caplog.set_level(logging.INFO, logger="tinyreg.access")
    with world.client(world.login("root")) as api:
        for response in (
            api.post(f"/v2/{repo}/blobs/uploads/"),
            api.put(f"/v2/{repo}/manifests/v1", content=b"{}", headers={"Content-Type": OCI_MANIFEST}),
        ):
            message = refusal(403, "DENIED", response)
            for word in words:
                assert word in message, message
        assert api.get(f"/v2/{repo}/tags/list").status_code == 403
    assert granted_access(get_token(world.url, [f"repository:{repo}:pull,push,delete"], world.login("root"))) == {repo: []}
    logged = [r.getMessage() for r in caplog.records if r.name == "tinyreg.access" and r.levelno == logging.INFO]
    assert any("root" in line and repo in line and "belongs to no project" in line for line in logged), logged


def test_a_repository_left_outside_every_project_is_hidden_even_from_admins(world: AuthWorld) -> None:
    assert world.pull_status("loose/repo", world.login("root")) == 403
    with world.client(world.login("root")) as api:
        assert "loose/repo" not in api.get("/v2/_catalog", params={"n": 1000}).json()["repositories"]


# -- a new project does not silently take over repositories --------------------------------


def test_a_new_project_that_would_take_repositories_of_another_is_refused_unless_adopting(world: AuthWorld) -> None:
    registry = world.registry
    registry.create_project("squad", owner="alice")
    with world.client(world.login("alice")) as alice:
        push_image(alice, "squad/tools/app", "v1", seed="squad tools app")
        push_image(alice, "squad/tools", "v1", seed="squad tools")
    registry.push_image("squad/tools/a/b", "v1")  # beyond squad's reach: no project owns it today
    with pytest.raises(AccessError) as info:
        registry.create_project("squad/tools", owner="carol")
    message = str(info.value)
    assert "would move 2 existing repositories" in message, message
    assert "squad/tools (now in squad)" in message and "squad/tools/app (now in squad)" in message, message
    assert "squad/tools/a/b" not in message and "--adopt" in message, message

    done = tinyreg_admin(registry.data_dir, "project", "create", "squad/tools", "--owner", "carol")
    assert done.returncode == 1 and "squad/tools/app (now in squad)" in done.stderr, done.stderr
    assert [p["path"] for p in admin_ok(registry.data_dir, "project", "list") if p["path"].startswith("squad")] == ["squad"]
    assert world.pull_status("squad/tools/app", world.login("alice")) == 200
    assert world.pull_status("squad/tools/app", world.login("carol")) == 403

    admin_ok(registry.data_dir, "project", "create", "squad/tools", "--owner", "carol", "--adopt")
    assert world.pull_status("squad/tools/app", world.login("carol")) == 200
    assert world.pull_status("squad/tools/app", world.login("alice")) == 403


def test_a_new_project_over_repositories_of_no_project_needs_no_adoption(world: AuthWorld) -> None:
    world.registry.push_image("orphans/app", "v1")
    world.registry.create_project("orphans", owner="carol")
    assert world.pull_status("orphans/app", world.login("carol")) == 200


# -- every refusal says why ---------------------------------------------------------------


def test_an_anonymous_pull_of_a_private_project_is_told_to_log_in(world: AuthWorld) -> None:
    with world.client() as api:
        message = refusal(401, "UNAUTHORIZED", api.get("/v2/team/app/manifests/v1"))
    assert "log in first" in message and "team/app" in message, message


def test_a_non_member_cannot_tell_a_private_project_from_a_missing_one(world: AuthWorld) -> None:
    with world.client(world.login("bob")) as api:
        private = refusal(403, "DENIED", api.get("/v2/carol/box/manifests/v1"))
        missing = refusal(403, "DENIED", api.get("/v2/nosuch/box/manifests/v1"))
    assert "not found or no access" in private, private
    assert private.replace("carol/box", "NAME") == missing.replace("nosuch/box", "NAME")


def test_a_member_hears_which_role_is_missing_and_an_admin_that_the_registry_is_off(world: AuthWorld) -> None:
    with world.client(world.login("bob")) as api:
        message = refusal(403, "DENIED", api.post("/v2/team/app/blobs/uploads/"))
    assert "reporter" in message and "push" in message and "developer" in message, message
    world.registry.create_project("quiet/app", owner="alice")
    admin_ok(world.registry.data_dir, "project", "update", "quiet/app", "--registry", "off")
    for who in ("root", "alice"):
        with world.client(world.login(who)) as api:
            message = refusal(403, "DENIED", api.get("/v2/quiet/app/tags/list"))
        assert "registry is switched off for project quiet/app" in message, message


def test_a_tokens_only_user_hears_so_only_after_giving_the_right_password(
    world: AuthWorld, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="tinyreg.access")
    world.registry.create_user("tom", "toms-password-1234")
    world.registry.create_project("tom/proj", owner="tom")
    admin_ok(world.registry.data_dir, "user", "update", "tom", "--tokens-only", "on")
    right, wrong = basic_auth("tom", "toms-password-1234"), basic_auth("tom", "not-toms-password")
    with world.client(right) as api:
        message = refusal(401, "UNAUTHORIZED", api.get("/v2/tom/proj/tags/list"))
    assert "tokens only" in message, message
    assert "tokens only" in refusal(401, "UNAUTHORIZED", get_token(world.url, ["repository:tom/proj:pull"], right))
    with world.client(wrong) as api:
        message = refusal(401, "UNAUTHORIZED", api.get("/v2/tom/proj/tags/list"))
    assert message == "invalid user name or password", message
    assert any("'tom'" in r.getMessage() and "tokens only" in r.getMessage() for r in caplog.records), caplog.text


def test_an_expired_or_revoked_token_is_named_as_such(world: AuthWorld) -> None:
    expired = basic_auth("alice", world.registry.create_token("alice", ["read_registry"], name="old", expires_in=-1))
    with world.client(expired) as api:
        message = refusal(401, "UNAUTHORIZED", api.get("/v2/team/app/tags/list"))
    assert "'old'" in message and "expired" in message, message
    assert "expired" in refusal(401, "UNAUTHORIZED", get_token(world.url, ["repository:team/app:pull"], expired))

    pat = basic_auth("alice", world.registry.create_token("alice", ["read_registry"], name="cut"))
    bearer = bearer_auth(token_for(world.url, ["repository:team/app:pull"], pat))
    [record] = [t for t in admin_ok(world.registry.data_dir, "token", "list", "alice") if t["name"] == "cut"]
    admin_ok(world.registry.data_dir, "token", "revoke", str(record["id"]))
    for headers in (pat, bearer):
        with world.client(headers) as api:
            message = refusal(401, "UNAUTHORIZED", api.get("/v2/team/app/tags/list"))
        assert "'cut'" in message and "revoked" in message, message


def test_a_token_lacking_a_scope_says_why_it_was_not_granted(world: AuthWorld) -> None:
    token = token_for(world.url, ["repository:team/app:pull,push"], world.login("bob"))
    with world.client(bearer_auth(token)) as api:
        message = refusal(401, "UNAUTHORIZED", api.post("/v2/team/app/blobs/uploads/"))
    assert "repository:team/app:pull,push" in message and "reporter" in message, message


def test_an_invalid_name_says_which_component_breaks_which_rule(world: AuthWorld) -> None:
    with world.client(world.login("alice")) as api:
        error = assert_error(api.get("/v2/team/My-app/tags/list"), 400, "NAME_INVALID")
    assert "'M'" in error["message"] and "component 2" in error["message"] and "uppercase" in error["message"], error

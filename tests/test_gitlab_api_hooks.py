"""Projects' webhooks through `/api/v4/projects/:id/hooks` (python-gitlab): maintainers only, the
token written and never shown, and deliveries of that project's events with `X-Gitlab-Token`."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from tinyreg.registry.events import EVENTS_MEDIA_TYPE
from tinyreg.testing import run_registry

from tests.gitlab_helpers import GitLabWorld, gitlab_error
from tests.notify_helpers import Receiver


@pytest.fixture
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GitLabWorld]:
    with run_registry(tmp_path_factory.mktemp("gitlab-hooks"), auth=True) as registry:
        yield GitLabWorld.build(registry)


def raw(world: GitLabWorld, who: str, method: str, path: str, **kwargs: object) -> httpx.Response:
    headers = {"PRIVATE-TOKEN": world.tokens[who]}
    return httpx.request(method, f"{world.url}/api/v4{path}", headers=headers, timeout=60, **kwargs)  # type: ignore[arg-type]


def test_a_maintainers_hook_gets_its_projects_events_with_the_secret(world: GitLabWorld, receiver: Receiver) -> None:
    project = world.gitlab("alice").projects.get("team/app")
    hook = project.hooks.create({"url": receiver.url, "token": "hook-s3cret", "registry_actions": ["push", "delete"]})
    assert hook.url == receiver.url and hook.registry_actions == ["push", "delete"] and hook.enable_ssl_verification
    pushed = world.push("team/app", "v1")
    world.push("pub/site", "v1")  # another project of alice: not this hook's

    assert receiver.wait_for(lambda r: any(e["target"]["digest"] == pushed.digest for e in r.events()))
    post = receiver.posts[0]
    assert post.headers["x-gitlab-token"] == "hook-s3cret"
    assert post.headers["content-type"] == EVENTS_MEDIA_TYPE
    manifest_push = next(e for e in receiver.events() if e["target"]["digest"] == pushed.digest)
    assert manifest_push["action"] == "push" and manifest_push["target"]["tag"] == "v1"
    assert {e["target"]["repository"] for e in receiver.events()} == {"team/app"}


def test_the_token_is_never_returned(world: GitLabWorld, receiver: Receiver) -> None:
    created = raw(world, "alice", "POST", "/projects/team%2Fapp/hooks", json={"url": receiver.url, "token": "never-shown"})
    assert created.status_code == 201
    hook_id = created.json()["id"]
    listed = raw(world, "alice", "GET", "/projects/team%2Fapp/hooks")
    shown = raw(world, "alice", "GET", f"/projects/team%2Fapp/hooks/{hook_id}")
    changed = raw(world, "alice", "PUT", f"/projects/team%2Fapp/hooks/{hook_id}", json={"token": "still-hidden"})
    for response in (created, listed, shown, changed):
        assert response.status_code in (200, 201)
        assert "never-shown" not in response.text and "still-hidden" not in response.text and "token" not in response.text
    assert set(shown.json()) == {"id", "url", "project_id", "enable_ssl_verification", "registry_actions", "created_at"}


def test_hooks_are_changed_and_deleted(world: GitLabWorld, receiver: Receiver) -> None:
    project = world.gitlab("alice").projects.get("team/app")
    hook = project.hooks.create({"url": "http://127.0.0.1:9/old"})
    assert hook.registry_actions == ["push", "delete", "mount", "move"]
    hook.url = receiver.url
    hook.enable_ssl_verification = False
    hook.save()
    again = project.hooks.get(hook.id)
    assert again.url == receiver.url and again.enable_ssl_verification is False
    assert [h.id for h in project.hooks.list()] == [hook.id]
    hook.delete()
    assert project.hooks.list() == []
    gitlab_error(lambda: project.hooks.get(hook.id), 404)


@pytest.mark.parametrize(("who", "status"), [("bob", 403), ("dave", 403), ("carol", 404)])
def test_only_maintainers_may_see_or_change_hooks(world: GitLabWorld, who: str, status: int) -> None:
    world.gitlab("alice").projects.get("team/app").hooks.create({"url": "http://127.0.0.1:9/hook"})
    assert raw(world, who, "GET", "/projects/team%2Fapp/hooks").status_code == status
    assert raw(world, who, "POST", "/projects/team%2Fapp/hooks", json={"url": "http://127.0.0.1:9/x"}).status_code == status
    assert raw(world, who, "DELETE", "/projects/team%2Fapp/hooks/1").status_code == status


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({}, "url is missing"),
        ({"url": "ftp://example/"}, "url must be an http:// or https:// URL"),
        ({"url": "http://h/", "registry_actions": ["tag"]}, "registry_actions must be a list of push, pull, delete, mount"),
        ({"url": "http://h/", "enable_ssl_verification": "maybe"}, "enable_ssl_verification must be true or false"),
    ],
)
def test_a_bad_hook_is_refused_naming_the_field(world: GitLabWorld, body: dict[str, object], error: str) -> None:
    response = raw(world, "alice", "POST", "/projects/team%2Fapp/hooks", json=body)
    assert response.status_code == 400 and error in response.json()["error"]

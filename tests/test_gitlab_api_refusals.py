"""What `/api/v4` refuses, in GitLab's words: missing or wrong credentials, roles and token
scopes that do not allow the call, unknown ids and bad parameters."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from tinyreg.testing import run_registry

from tests.gitlab_helpers import GitLabWorld, gitlab_error


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GitLabWorld]:
    with run_registry(tmp_path_factory.mktemp("gitlab-refusals"), auth=True) as registry:
        built = GitLabWorld.build(registry)
        built.push("team/app", "v1", "v2")
        built.push("carol/box", "v1")
        yield built


def api_get(world: GitLabWorld, path: str, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.get(f"{world.url}/api/v4{path}", headers=headers or {}, timeout=60)


def test_a_reporter_reads_but_may_not_delete(world: GitLabWorld) -> None:
    repo = world.gitlab("bob").projects.get("team/app").repositories.list()[0]
    assert [t.name for t in repo.tags.list()] == ["v1", "v2"]
    assert gitlab_error(lambda: repo.tags.delete("v1"), 403) == "403 Forbidden"
    assert gitlab_error(lambda: repo.tags.delete_in_bulk(name_regex_delete=".*"), 403) == "403 Forbidden"
    project = world.gitlab("bob").projects.get("team/app")
    assert gitlab_error(lambda: project.repositories.delete(repo.id), 403) == "403 Forbidden"
    assert gitlab_error(lambda: project.members.create({"user_id": 1, "access_level": 30}), 403) == "403 Forbidden"
    assert [t.name for t in repo.tags.list()] == ["v1", "v2"]


def test_anonymous_callers_do_not_see_private_projects(world: GitLabWorld) -> None:
    anonymous = world.gitlab()
    assert gitlab_error(lambda: anonymous.projects.get("team/app"), 404) == "404 Project Not Found"
    response = api_get(world, "/projects/team%2Fapp/registry/repositories")
    assert (response.status_code, response.json()) == (404, {"message": "404 Project Not Found"})
    assert api_get(world, "/user").json() == {"message": "401 Unauthorized"}
    assert api_get(world, "/user").status_code == 401


def test_a_non_member_hears_not_found_like_for_a_missing_project(world: GitLabWorld) -> None:
    alice = world.gitlab("alice")
    assert gitlab_error(lambda: alice.projects.get("carol/box"), 404) == "404 Project Not Found"
    assert gitlab_error(lambda: alice.projects.get("no/such"), 404) == "404 Project Not Found"
    assert gitlab_error(lambda: alice.projects.get(99999), 404) == "404 Project Not Found"


def test_unknown_or_wrong_tokens_are_401(world: GitLabWorld) -> None:
    for headers in ({"PRIVATE-TOKEN": "glpat-nonsense"}, {"Authorization": "Bearer nonsense"}):
        response = api_get(world, "/projects", headers)
        assert (response.status_code, response.json()) == (401, {"message": "401 Unauthorized"})


def test_a_deploy_token_is_refused_by_the_api(world: GitLabWorld) -> None:
    _, own = world.registry.create_deploy_token("team/app", ["read_registry"])
    _, other = world.registry.create_deploy_token("carol/box", ["read_registry", "write_registry"])
    for secret in (own, other):
        response = api_get(world, "/projects/team%2Fapp/registry/repositories", {"PRIVATE-TOKEN": secret})
        assert (response.status_code, response.json()) == (401, {"message": "401 Unauthorized"})


def test_a_read_api_token_reads_but_does_not_write(world: GitLabWorld) -> None:
    reader = world.gitlab(token=world.registry.create_token("alice", ["read_api"], name="reader"))
    repo = reader.projects.get("team/app").repositories.list()[0]
    assert [t.name for t in repo.tags.list()] == ["v1", "v2"]
    refused = gitlab_error(lambda: repo.tags.delete("v1"), 403)
    assert refused == "insufficient_scope"
    assert gitlab_error(lambda: reader.projects.create({"path": "x"}), 403) == "insufficient_scope"


def test_a_registry_scoped_token_cannot_use_the_api(world: GitLabWorld) -> None:
    registry_only = world.gitlab(token=world.registry.create_token("alice", ["read_registry", "write_registry"], name="reg"))
    assert gitlab_error(lambda: registry_only.projects.get("team/app"), 403) == "insufficient_scope"
    assert gitlab_error(lambda: registry_only.auth(), 403) == "insufficient_scope"


def test_a_read_user_token_sees_only_the_user(world: GitLabWorld) -> None:
    client = world.gitlab(token=world.registry.create_token("alice", ["read_user"], name="whoami"))
    client.auth()
    assert client.user is not None and client.user.username == "alice"
    assert gitlab_error(lambda: client.projects.get("team/app"), 403) == "insufficient_scope"


def test_unknown_ids_are_gitlabs_404s(world: GitLabWorld) -> None:
    project = world.gitlab("alice").projects.get("team/app")
    assert gitlab_error(lambda: project.repositories.delete(99999), 404) == "404 Repository Not Found"
    assert gitlab_error(lambda: world.gitlab("alice").registry_repositories.get(99999), 404) == "404 Repository Not Found"
    assert gitlab_error(lambda: world.gitlab("root").users.get(99999), 404) == "404 User Not Found"
    assert gitlab_error(lambda: world.gitlab("alice").groups.get(99999), 404) == "404 Group Not Found"
    response = api_get(world, "/no/such/endpoint", {"PRIVATE-TOKEN": world.tokens["alice"]})
    assert (response.status_code, response.json()) == (404, {"error": "404 Not Found"})


def test_bad_parameters_are_400_with_an_error(world: GitLabWorld) -> None:
    headers = {"PRIVATE-TOKEN": world.tokens["alice"]}
    response = api_get(world, "/projects?page=abc", headers)
    assert (response.status_code, response.json()) == (400, {"error": "page is invalid"})
    created = httpx.post(f"{world.url}/api/v4/projects", json={"visibility": "public"}, headers=headers)
    assert created.status_code == 400 and "missing" in created.json()["error"]
    member = httpx.post(f"{world.url}/api/v4/projects/team%2Fapp/members", json={"user_id": 1}, headers=headers)
    assert (member.status_code, member.json()) == (400, {"error": "access_level is missing"})

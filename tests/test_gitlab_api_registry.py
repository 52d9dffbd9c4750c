"""Container registry repositories and tags through `/api/v4`, driven by python-gitlab, on images
pushed over `/v2/`: listings, details, pagination, deletions and GitLab's bulk tag deletion."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import gitlab
import httpx
import pytest
from gitlab.v4.objects import ProjectRegistryRepository
from tinyreg.testing import run_registry

from tests.gitlab_helpers import GitLabWorld, gitlab_error
from tests.helpers import api_client
from tests.manifest_builders import push_image


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GitLabWorld]:
    with run_registry(tmp_path_factory.mktemp("gitlab-registry"), auth=True) as registry:
        built = GitLabWorld.build(registry)
        image = built.push("team/app", "v1", "v2", "latest")
        built.sign("team/app", image)
        built.push("team/app/api", "1.0")
        built.push("pub/site", "v1")
        yield built


def repository_of(world: GitLabWorld, path: str, who: str = "alice") -> ProjectRegistryRepository:
    project = world.gitlab(who).projects.get(path.split("/")[0] + "/" + path.split("/")[1])
    return next(repo for repo in project.repositories.list(get_all=True) if repo.path == path)


def test_a_projects_repositories_list_with_their_tags_and_counts(world: GitLabWorld) -> None:
    project = world.gitlab("alice").projects.get("team/app")
    repos = project.repositories.list(tags=True, tags_count=True)
    assert [(r.path, r.name, r.tags_count) for r in repos] == [("team/app", "", 3), ("team/app/api", "api", 1)]
    first = repos[0]
    assert first.project_id == project.id and isinstance(first.id, int)
    assert first.location == f"{world.registry.host}/team/app"
    listed = first.attributes["tags"]  # `first.tags` is python-gitlab's tag manager
    assert [t["name"] for t in listed] == ["latest", "v1", "v2"]
    assert listed[0] == {"name": "latest", "path": "team/app:latest", "location": f"{world.registry.host}/team/app:latest"}
    assert "tags" not in project.repositories.list()[0].attributes


def test_a_repository_by_id_shows_its_size_and_tags(world: GitLabWorld) -> None:
    listed = world.gitlab("bob").projects.get("team/app").repositories.list()[0]
    repo = world.gitlab("bob").registry_repositories.get(listed.id, tags=True, tags_count=True, size=True)
    assert (repo.path, repo.tags_count, len(repo.attributes["tags"])) == ("team/app", 3, 3)
    assert repo.size > 0


def test_project_statistics_give_the_registry_size_counted_the_gitlab_way(world: GitLabWorld) -> None:
    project = world.gitlab("alice").projects.get("pub/site", statistics=True)
    only = world.gitlab("alice").registry_repositories.get(project.repositories.list()[0].id, size=True)
    assert project.statistics["container_registry_size"] == only.size > 0  # one image: its blobs and manifest
    assert "statistics" not in world.gitlab("alice").projects.get("pub/site").attributes


def test_only_an_admin_sets_a_projects_size_limit_through_the_api(world: GitLabWorld) -> None:
    mine = world.gitlab("alice").projects.get("pub/site")
    mine.container_registry_size_limit = "1GB"
    assert "only administrators" in gitlab_error(mine.save, 403)
    theirs = world.gitlab("root").projects.get("pub/site")
    theirs.container_registry_size_limit = "lots"
    assert "container_registry_size_limit" in str(gitlab_error(theirs.save, 400))
    theirs.container_registry_size_limit = "1GB"
    theirs.save()
    assert world.gitlab("alice").projects.get("pub/site", statistics=True).container_registry_size_limit == 10**9
    theirs.container_registry_size_limit = "default"
    theirs.save()
    assert world.gitlab("alice").projects.get("pub/site", statistics=True).container_registry_size_limit is None


def test_a_tag_shows_gitlabs_fields(world: GitLabWorld) -> None:
    repo = world.gitlab("bob").projects.get("team/app").repositories.list()[0]
    tag = repo.tags.get("v1")
    assert (tag.name, tag.path, tag.location) == ("v1", "team/app:v1", f"{world.registry.host}/team/app:v1")
    assert tag.digest.startswith("sha256:") and len(tag.revision) == 64 and tag.short_revision == tag.revision[:9]
    assert tag.total_size > 0 and tag.created_at.endswith("Z")
    assert [t.name for t in repo.tags.list()] == ["latest", "v1", "v2"]
    assert gitlab_error(lambda: repo.tags.get("nope"), 404) == "404 Tag Not Found"


def test_anyone_lists_the_repositories_of_a_public_project(world: GitLabWorld) -> None:
    project = world.gitlab().projects.get("pub/site")
    assert [r.path for r in project.repositories.list()] == ["pub/site"]


def test_pages_carry_gitlabs_headers_and_python_gitlab_follows_them(world: GitLabWorld) -> None:
    world.push("team/app/many", *[f"t{i:02d}" for i in range(45)])
    repo = repository_of(world, "team/app/many")
    assert len(repo.tags.list(get_all=True)) == 45
    assert [t.name for t in repo.tags.list(per_page=20, page=3)] == [f"t{i:02d}" for i in range(40, 45)]
    url = f"{world.url}/api/v4/projects/team%2Fapp/registry/repositories/{repo.id}/tags"
    response = httpx.get(url, params={"per_page": 20, "page": 2}, headers={"PRIVATE-TOKEN": world.tokens["alice"]})
    assert response.status_code == 200 and len(response.json()) == 20
    headers = response.headers
    assert (headers["X-Total"], headers["X-Total-Pages"], headers["X-Page"], headers["X-Per-Page"]) == ("45", "3", "2", "20")
    assert (headers["X-Next-Page"], headers["X-Prev-Page"]) == ("3", "1")
    links = {rel: parse_qs(urlsplit(link).query) for link, rel in _links(headers["Link"])}
    assert links["next"]["page"] == ["3"] and links["prev"]["page"] == ["1"] and links["last"]["page"] == ["3"]
    last = httpx.get(url, params={"per_page": 20, "page": 3}, headers={"PRIVATE-TOKEN": world.tokens["alice"]})
    assert last.headers["X-Next-Page"] == "" and len(last.json()) == 5
    capped = httpx.get(url, params={"per_page": 500}, headers={"PRIVATE-TOKEN": world.tokens["alice"]})
    assert capped.headers["X-Per-Page"] == "100" and len(capped.json()) == 45
    default = httpx.get(url, headers={"PRIVATE-TOKEN": world.tokens["alice"]})
    assert default.headers["X-Per-Page"] == "20" and default.headers["X-Page"] == "1" and default.headers["X-Prev-Page"] == ""


def _links(header: str) -> list[tuple[str, str]]:
    found = []
    for part in header.split(", "):
        target, rel = part.split("; ")
        found.append((target.strip("<>"), rel.removeprefix('rel="').rstrip('"')))
    return found


def test_deleting_a_tag_untags_only_that_tag(world: GitLabWorld) -> None:
    world.push("team/app/del", "a", "b")
    repo = repository_of(world, "team/app/del", "dave")
    repo.tags.delete("a")
    assert [t.name for t in repo.tags.list()] == ["b"]
    assert gitlab_error(lambda: repo.tags.delete("a"), 404) == "404 Tag Not Found"


def test_deleting_a_repository_answers_202_and_removes_it(world: GitLabWorld) -> None:
    world.push("team/app/gone", "v1")
    project = world.gitlab("dave").projects.get("team/app")
    repo = repository_of(world, "team/app/gone", "dave")
    project.repositories.delete(repo.id)
    assert "team/app/gone" not in [r.path for r in project.repositories.list(get_all=True)]
    assert gitlab_error(lambda: project.repositories.delete(repo.id), 404) == "404 Repository Not Found"
    with world.v2_client("team/app/gone") as client:
        assert client.get("/v2/team/app/gone/tags/list").status_code == 404


BULK_CASES = [
    ({"name_regex_delete": ".*"}, {"latest"}),
    ({"name_regex_delete": "v1.*"}, {"latest", "v2.0", "main", "dev"}),
    ({"name_regex_delete": ".*", "name_regex_keep": "v.*"}, {"latest", "v1.0", "v1.1", "v2.0"}),
    ({"name_regex_delete": ".*", "keep_n": 2}, {"latest", "dev", "main"}),
    ({"name_regex_delete": ".*", "older_than": "1h"}, {"latest", "v1.0", "v1.1", "v2.0", "main", "dev"}),
    ({"name_regex_delete": "v.*", "name_regex_keep": "v1\\.0", "keep_n": 1}, {"latest", "v1.0", "v2.0", "main", "dev"}),
    ({"name_regex": "main|dev"}, {"latest", "v1.0", "v1.1", "v2.0"}),
]


@pytest.mark.parametrize(("params", "left"), BULK_CASES)
def test_bulk_deletion_follows_gitlabs_rules(world: GitLabWorld, params: dict[str, Any], left: set[str]) -> None:
    repo_path = f"team/app/bulk{BULK_CASES.index((params, left))}"
    world.push(repo_path, "v1.0", "v1.1", "v2.0", "main", "dev", "latest")  # pushed in this order: dev newest
    repo = repository_of(world, repo_path, "dave")
    if "name_regex" in params:  # the legacy name, which python-gitlab's helper does not send
        repo.manager.gitlab.http_delete(repo.tags.path, query_data=params)
    else:
        repo.tags.delete_in_bulk(**params)
    assert {t.name for t in repo.tags.list(get_all=True)} == left


@pytest.mark.parametrize(
    ("params", "error"),
    [
        ({"name_regex_delete": "("}, "name_regex_delete is an invalid regexp"),
        ({"name_regex_delete": ".*", "name_regex_keep": "[a-"}, "name_regex_keep is an invalid regexp"),
        ({"name_regex_delete": ".*", "older_than": "soon"}, "older_than is not a duration"),
        ({"name_regex_delete": ".*", "keep_n": "many"}, "keep_n is invalid"),
        ({"name_regex_delete": ""}, "name_regex_delete is missing"),
    ],
)
def test_bulk_deletion_refuses_bad_parameters_in_gitlabs_shape(world: GitLabWorld, params: dict[str, str], error: str) -> None:
    repo = world.gitlab("dave").projects.get("team/app").repositories.list()[0]
    body = gitlab_error(lambda: repo.manager.gitlab.http_delete(repo.tags.path, query_data=params), 400)
    assert isinstance(body, str) and body.startswith(error), body
    assert len(repo.tags.list()) == 3


def test_an_open_registry_lets_anyone_act_as_an_admin_on_what_exists() -> None:
    with run_registry() as registry:
        registry.create_project("team/app")
        with api_client(registry.url) as client:
            push_image(client, "team/app", "v1")
            push_image(client, "team/app", "v2", seed="other")
        anyone = gitlab.Gitlab(registry.url, timeout=60)
        repo = anyone.projects.get("team/app").repositories.list()[0]
        repo.tags.delete("v1")
        assert [t.name for t in repo.tags.list()] == ["v2"]
        assert gitlab_error(lambda: anyone.projects.get("team/none"), 404) == "404 Project Not Found"
        assert gitlab_error(lambda: anyone.registry_repositories.get(12345), 404) == "404 Repository Not Found"

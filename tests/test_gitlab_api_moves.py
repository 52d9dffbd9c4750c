"""Renaming and transferring projects, and renaming repositories, through `/api/v4` with python-gitlab:
the ids stay, images follow, and refusals say why and change nothing."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from tinyreg.testing import run_registry

from tests.auth_helpers import basic_auth, token_for
from tests.gitlab_helpers import GitLabWorld, gitlab_error
from tests.helpers import api_client


@pytest.fixture
def world(tmp_path: Any) -> Iterator[GitLabWorld]:
    with run_registry(tmp_path / "data", auth=True) as registry:
        built = GitLabWorld.build(registry)
        registry.create_group("other", owner="alice")
        built.push("team/app", "v1", "v2")
        built.push("team/app/api", "1.0")
        yield built


def pull_status(world: GitLabWorld, repo: str, tag: str, login: dict[str, str]) -> int:
    token = token_for(world.url, [f"repository:{repo}:pull"], login)
    with api_client(world.url) as client:
        client.headers["Authorization"] = f"Bearer {token}"
        return client.get(
            f"/v2/{repo}/manifests/{tag}", headers={"Accept": "application/vnd.oci.image.manifest.v1+json"}
        ).status_code


def as_dict(answer: Any) -> dict[str, Any]:
    assert isinstance(answer, dict), answer
    return answer


def test_a_rename_by_put_path_keeps_the_id_and_moves_the_images(world: GitLabWorld) -> None:
    gl = world.gitlab("alice")
    project = gl.projects.get("team/app")
    repo_ids = {r.path: r.id for r in project.repositories.list()}
    project.path = "web"
    project.name = "Web site"
    project.save()
    again = gl.projects.get(project.id)
    assert (again.path_with_namespace, again.path, again.name) == ("team/web", "web", "Web site")
    assert {r.path: r.id for r in again.repositories.list()} == {
        "team/web": repo_ids["team/app"],
        "team/web/api": repo_ids["team/app/api"],
    }
    pat = world.registry.create_token("alice", ["read_registry"], name="pull")
    assert pull_status(world, "team/web", "v2", basic_auth("alice", pat)) == 200
    assert pull_status(world, "team/app", "v2", basic_auth("alice", pat)) == 200  # the alias, for 30 days


def test_a_transfer_moves_the_project_into_a_group_its_maintainer_maintains(world: GitLabWorld) -> None:
    project = world.gitlab("alice").projects.get("team/app")
    project.transfer("other")
    assert world.gitlab("alice").projects.get(project.id).path_with_namespace == "other/app"
    assert pull_status(world, "other/app/api", "1.0", basic_auth("root", world.pusher)) == 200
    group_id = world.gitlab("root").groups.get("other").id
    world.registry.add_group_member("team", "alice", "maintainer")
    world.gitlab("alice").projects.get(project.id).transfer("team")  # back onto its own alias, by path
    assert pull_status(world, "team/app/api", "1.0", basic_auth("root", world.pusher)) == 200
    world.gitlab("alice").projects.get(project.id).transfer(group_id)  # and by id
    assert world.gitlab("alice").projects.get(project.id).path_with_namespace == "other/app"


def test_refused_moves_say_why_and_change_nothing(world: GitLabWorld) -> None:
    alice = world.gitlab("alice").projects.get("team/app")
    as_bob = world.gitlab("bob").projects.get(alice.id)
    assert "403" in str(gitlab_error(lambda: as_bob.transfer("other"), 403))
    assert "maintainer role" in gitlab_error(lambda: alice.transfer("carol"), 403)  # alice has no role in group carol
    assert gitlab_error(lambda: alice.transfer("nowhere"), 404) == "404 Namespace Not Found"
    taken = world.gitlab("alice").projects.get(alice.id)
    taken.path = "app"  # no change: nothing happens
    taken.save()
    world.gitlab("root").projects.get("pub/site").transfer("team")
    clash = world.gitlab("alice").projects.get(alice.id)
    clash.path = "site"
    assert "project team/site exists" in gitlab_error(clash.save, 400)
    assert world.gitlab("alice").projects.get(alice.id).path_with_namespace == "team/app"


def test_a_repository_is_renamed_or_moved_by_its_id(world: GitLabWorld) -> None:
    gl = world.gitlab("alice")
    project = gl.projects.get("team/app")
    api_repo = next(r for r in project.repositories.list() if r.path == "team/app/api")
    path = f"/projects/{project.id}/registry/repositories/{api_repo.id}"
    moved = as_dict(gl.http_put(path, post_data={"name": "backend"}))
    assert (moved["path"], moved["name"], moved["id"]) == ("team/app/backend", "backend", api_repo.id)
    assert pull_status(world, "team/app/backend", "1.0", basic_auth("root", world.pusher)) == 200
    # into carol's project: alice is no maintainer there
    refused = gitlab_error(lambda: gl.http_put(path, post_data={"path": "carol/box/backend"}), 403)
    assert "maintainer role in project team/app and in project carol/box" in refused
    world.registry.add_member("carol/box", "alice", "maintainer")
    moved = as_dict(gl.http_put(path, post_data={"path": "carol/box/backend"}))
    assert moved["project_id"] == gl.projects.get("carol/box").id and moved["id"] == api_repo.id
    too_deep = gitlab_error(
        lambda: gl.http_put(f"/projects/{moved['project_id']}/registry/repositories/{api_repo.id}", post_data={"name": "a/b/c"}),
        400,
    )
    assert "more than 2 components below project carol/box" in too_deep

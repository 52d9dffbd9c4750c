"""Moving projects and repositories on a serving registry with --auth: `tinyreg project move` and
`tinyreg repository move` run as processes beside the server; clients then pull by the new name,
by the old one (a read-only alias), and hear where to go when they push or upload there."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from tinyreg.testing import run_registry

from tests.auth_helpers import admin_ok, basic_auth, tinyreg_admin, token_for
from tests.gitlab_helpers import GitLabWorld
from tests.helpers import api_client, assert_error, make_blob, push_blob, send_chunk, start_upload
from tests.manifest_builders import DOCKER_V1_SIGNED, Pushed, libtrust_sign, put_manifest, schema1_payload


@pytest.fixture
def world(tmp_path: Any) -> Iterator[GitLabWorld]:
    with run_registry(tmp_path / "data", auth=True) as registry:
        built = GitLabWorld.build(registry)
        registry.create_group("other", owner="alice")
        yield built


def client_for(world: GitLabWorld, repo: str, actions: str, who: tuple[str, str] | None = None) -> httpx.Client:
    """A /v2/ client with a registry token for `repo` (root's pusher token unless `who` logs in)."""
    login = basic_auth(*who) if who else basic_auth("root", world.pusher)
    client = api_client(world.url)
    client.headers["Authorization"] = f"Bearer {token_for(world.url, [f'repository:{repo}:{actions}'], login)}"
    return client


def pulled(world: GitLabWorld, repo: str, reference: str, pushed: Pushed, who: tuple[str, str] | None = None) -> bool:
    """Whether `repo:reference` gives back exactly `pushed`, and every blob it names."""
    with client_for(world, repo, "pull", who) as client:
        response = client.get(f"/v2/{repo}/manifests/{reference}", headers={"Accept": pushed.media_type})
        if response.status_code != 200 or response.content != pushed.body:
            return False
        document = json.loads(pushed.body)
        digests = [document["config"]["digest"], *(layer["digest"] for layer in document["layers"])]
        return all(client.get(f"/v2/{repo}/blobs/{digest}").status_code == 200 for digest in digests)


def usage(world: GitLabWorld, project: str) -> Any:
    return admin_ok(world.registry.data_dir, "usage", project)


def test_a_project_move_carries_everything_and_leaves_a_read_only_alias(world: GitLabWorld) -> None:
    data = world.registry.data_dir
    app = world.push("team/app", "v1", "v2")
    api = world.push("team/app/api", "1.0")
    signature = world.sign("team/app", app)
    deploy_user, deploy_secret = world.registry.create_deploy_token("team/app", ["read_registry", "write_registry"])
    admin_ok(data, "cleanup-policy", "set", "team/app", "--keep-n", "5", "--enabled")
    world.registry.set_size_limit("team/app", 10**9)
    with client_for(world, "team/app/api", "pull,push") as uploader:
        location = start_upload(uploader, "team/app/api")
        assert send_chunk(uploader, location, b"half of a layer", 0).status_code == 202
    before = usage(world, "team/app")
    project_id = world.gitlab("alice").projects.get("team/app").id

    moved = admin_ok(data, "project", "move", "team/app", "other/web")
    assert moved["repositories"] == {"team/app": "other/web", "team/app/api": "other/web/api"}
    assert moved["tags"] == 3 and moved["uploads_cancelled"] == 1

    # the new name serves everything at once, byte for byte, referrers too
    assert pulled(world, "other/web", "v1", app) and pulled(world, "other/web", "v2", app)
    assert pulled(world, "other/web/api", "1.0", api)
    with client_for(world, "other/web", "pull") as client:
        referrers = client.get(f"/v2/other/web/referrers/{app.digest}").json()["manifests"]
        assert [r["digest"] for r in referrers] == [signature.digest]
    # the project keeps its id, members, limit, cleanup policy and usage; python-gitlab finds it by id
    project = world.gitlab("alice").projects.get(project_id)
    assert project.path_with_namespace == "other/web"
    assert admin_ok(data, "project", "member", "list", "other/web") == {"alice": "owner", "bob": "reporter", "dave": "developer"}
    assert admin_ok(data, "cleanup-policy", "show", "other/web")["keep_n"] == 5
    after = usage(world, "other/web")
    assert after["usage"] == before["usage"] > 0 and after["limit"] == 10**9
    assert [(r["repository"].replace("other/web", "team/app"), r["usage"]) for r in after["repositories"]] == [
        (r["repository"], r["usage"]) for r in before["repositories"]
    ]
    assert admin_ok(data, "usage", "--recompute")["drift"] == {"owners": [], "stored_bytes": None}
    # the deploy token belongs to the moved project: it pulls and pushes there
    deploy = (deploy_user, deploy_secret)
    assert pulled(world, "other/web", "v1", app, who=deploy)
    with client_for(world, "other/web", "pull,push", who=deploy) as client:
        assert push_blob(client, "other/web", make_blob("after the move")).startswith("sha256:")

    # the old name: pulls keep working, pushes are refused naming the new path
    assert pulled(world, "team/app", "v1", app, who=("alice", "alice-Pa55-phrase-alice"))
    assert pulled(world, "team/app/api", "1.0", api)
    with client_for(world, "team/app", "pull,push") as client:
        refused = assert_error(client.post("/v2/team/app/blobs/uploads/"), 403, "DENIED")
        assert "moved to other/web: push to other/web" in refused["message"]
        refused = assert_error(put_manifest(client, "team/app", "v3", app.body, app.media_type), 403, "DENIED")
        assert "push to other/web" in refused["message"]
    # the upload in progress was cancelled: continuing it says where to start again
    with client_for(world, "team/app/api", "pull,push") as uploader:
        lost = assert_error(send_chunk(uploader, location, b" and the rest", 15), 404, "BLOB_UPLOAD_UNKNOWN")
        assert "start the upload again at other/web/api" in lost["message"]

    # the old path stays taken while the alias lasts; once removed it is free
    taken = tinyreg_admin(data, "project", "create", "team/app")
    assert taken.returncode == 1 and "old path of other/web" in taken.stderr
    aliases = admin_ok(data, "project", "alias", "list")
    assert {(a["path"], a["target"], a["active"]) for a in aliases} == {
        ("team/app", "other/web", True),
        ("team/app/api", "other/web/api", True),
    }
    admin_ok(data, "project", "alias", "remove", "team/app")
    admin_ok(data, "project", "create", "team/app", "--owner", "carol")


def _layout(world: GitLabWorld) -> Any:
    data = world.registry.data_dir
    return admin_ok(data, "project", "list"), admin_ok(data, "project", "alias", "list")


@pytest.mark.parametrize(
    ("new", "why"),
    [
        ("pub/site", "project pub/site exists"),
        ("other", "group other exists"),
        ("Other/web", "invalid project path"),
        ("team/app", "already at team/app"),
        ("team/app/deeper", "cannot move below itself"),
        ("carol/box/sub", "repository carol/box/sub exists"),  # one of carol/box's: a move takes none over
    ],
)
def test_a_refused_project_move_changes_nothing(world: GitLabWorld, new: str, why: str) -> None:
    world.push("team/app", "v1")
    world.push("carol/box/sub", "v1")
    before = _layout(world)
    done = tinyreg_admin(world.registry.data_dir, "project", "move", "team/app", new)
    assert done.returncode == 1 and why in done.stderr, done.stderr
    assert _layout(world) == before


def test_a_developer_may_not_move_a_project(world: GitLabWorld) -> None:
    project_id = world.gitlab("alice").projects.get("team/app").id
    refused = httpx.put(
        f"{world.url}/api/v4/projects/{project_id}", json={"path": "web"}, headers={"PRIVATE-TOKEN": world.tokens["dave"]}
    )
    assert refused.status_code == 403
    assert world.gitlab("alice").projects.get(project_id).path_with_namespace == "team/app"


def test_signed_schema_1_manifests_are_refused_before_anything_moves(world: GitLabWorld) -> None:
    with client_for(world, "team/app", "pull,push") as client:
        layer = push_blob(client, "team/app", make_blob("schema1 layer"))
        body = libtrust_sign(schema1_payload("team/app", [layer]))
        assert put_manifest(client, "team/app", "old", body, DOCKER_V1_SIGNED).status_code == 201
    before = _layout(world)
    for args in (("project", "move", "team/app", "other/web"), ("repository", "move", "team/app", "team/app/renamed")):
        done = tinyreg_admin(world.registry.data_dir, *args)
        assert done.returncode == 1 and "signed schema 1" in done.stderr, done.stderr
    assert _layout(world) == before


def test_a_repository_moves_into_another_project_with_its_usage(world: GitLabWorld) -> None:
    data = world.registry.data_dir
    api = world.push("team/app/api", "1.0", "1.1")
    moved = admin_ok(data, "repository", "move", "team/app/api", "carol/box/api")
    assert moved["repositories"] == {"team/app/api": "carol/box/api"} and moved["tags"] == 2
    assert pulled(world, "carol/box/api", "1.1", api)
    assert pulled(world, "team/app/api", "1.0", api)  # the alias
    assert usage(world, "team/app")["usage"] == 0
    assert usage(world, "carol/box")["usage"] > 0
    assert admin_ok(data, "usage", "--recompute")["drift"] == {"owners": [], "stored_bytes": None}
    for new, why in (
        ("carol/box/a/b/c", "more than 2 components below project carol/box"),
        ("carol/box", "no repository team/app/api"),
    ):
        done = tinyreg_admin(data, "repository", "move", "team/app/api" if "no repository" in why else "carol/box/api", new)
        assert done.returncode == 1 and why in done.stderr, done.stderr


def test_a_move_into_a_project_over_its_size_limit_is_refused(world: GitLabWorld) -> None:
    world.push("team/app/api", "1.0")
    world.registry.set_size_limit("carol/box", 10)
    done = tinyreg_admin(world.registry.data_dir, "repository", "move", "team/app/api", "carol/box/api")
    assert done.returncode == 1 and "over its size limit" in done.stderr and "this move would add" in done.stderr
    assert admin_ok(world.registry.data_dir, "project", "alias", "list") == []


def test_without_aliases_the_old_name_is_gone_at_once(tmp_path: Any) -> None:
    with run_registry(tmp_path / "data", auth=True, move_alias_days=0) as registry:
        world = GitLabWorld.build(registry)
        app = world.push("team/app", "v1")
        moved = admin_ok(registry.data_dir, "project", "move", "team/app", "carol/app", "--move-alias", "0")
        assert moved["alias_until"] is None
        assert pulled(world, "carol/app", "v1", app)
        assert not pulled(world, "team/app", "v1", app)
        admin_ok(registry.data_dir, "project", "create", "team/app")  # the path is free at once

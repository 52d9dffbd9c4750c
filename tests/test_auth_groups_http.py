"""Group roles over HTTP: a member of a group has their role in every project and subgroup
below it, through `/token` and Basic credentials alike; the highest of a user's roles wins."""

from __future__ import annotations

import pytest
from tinyreg.testing import run_registry

from tests.auth_helpers import AuthWorld, admin_ok, basic_auth, get_token, granted_access
from tests.helpers import assert_error, push_blob
from tests.manifest_builders import push_image

PASSWORD = "group-member-passphrase"
ALL = "pull,push,delete"


@pytest.fixture
def world(auth_world: AuthWorld) -> AuthWorld:
    return auth_world


def login(name: str) -> dict[str, str]:
    return basic_auth(name, PASSWORD)


def test_a_developer_of_a_group_only_pushes_to_a_project_below_it(world: AuthWorld) -> None:
    registry = world.registry
    registry.create_user("gdev", PASSWORD)
    registry.create_project("g/p", owner="alice")  # makes the group g
    admin_ok(registry.data_dir, "group", "member", "add", "g", "gdev", "developer")
    assert granted_access(get_token(world.url, [f"repository:g/p/img:{ALL}"], login("gdev"))) == {
        "g/p/img": ["delete", "pull", "push"]
    }
    with world.client(login("gdev")) as api:
        pushed = push_image(api, "g/p/img", "v1", seed="group developer")
        assert api.get(f"/v2/g/p/img/manifests/{pushed.digest}").status_code == 200
        assert_error(api.post("/v2/team/app/blobs/uploads/"), 403, "DENIED")  # not a member there
    admin_ok(registry.data_dir, "group", "member", "remove", "g", "gdev")
    assert granted_access(get_token(world.url, [f"repository:g/p/img:{ALL}"], login("gdev"))) == {"g/p/img": []}


def test_a_group_role_holds_in_subgroups_and_the_highest_role_wins(world: AuthWorld) -> None:
    registry = world.registry
    for name in ("outer", "inner"):
        registry.create_user(name, PASSWORD)
    registry.create_group("h/sub")  # makes h too
    registry.create_project("h/sub/deep", owner="alice")
    registry.add_group_member("h", "outer", "reporter")
    registry.add_group_member("h/sub", "outer", "maintainer")  # higher below: wins in h/sub/deep
    registry.add_group_member("h", "inner", "maintainer")
    registry.add_member("h/sub/deep", "inner", "guest")  # lower in the project: the group's role wins
    for name in ("outer", "inner"):
        assert granted_access(get_token(world.url, [f"repository:h/sub/deep:{ALL}"], login(name))) == {
            "h/sub/deep": ["delete", "pull", "push"]
        }
    registry.add_group_member("h/sub", "outer", "guest")
    assert granted_access(get_token(world.url, [f"repository:h/sub/deep:{ALL}"], login("outer"))) == {"h/sub/deep": ["pull"]}


def test_a_group_role_reaches_no_project_outside_the_group(world: AuthWorld) -> None:
    registry = world.registry
    registry.create_user("narrow", PASSWORD)
    registry.create_project("k/app", owner="alice")
    registry.create_project("kk/app", owner="alice")  # a name that merely starts like k
    registry.add_group_member("k", "narrow", "owner")
    assert granted_access(get_token(world.url, [f"repository:kk/app:{ALL}"], login("narrow"))) == {"kk/app": []}
    with world.client(login("narrow")) as api:
        assert_error(api.post("/v2/kk/app/blobs/uploads/"), 403, "DENIED")
        push_blob(api, "k/app", b"the owner of group k")


def test_removing_a_user_removes_their_group_memberships(tmp_path_factory: pytest.TempPathFactory) -> None:
    with run_registry(tmp_path_factory.mktemp("groups"), auth=True) as registry:
        registry.create_user("leaver", PASSWORD)
        registry.create_project("m/app")
        registry.add_group_member("m", "leaver", "developer")
        admin_ok(registry.data_dir, "user", "remove", "leaver")
        assert admin_ok(registry.data_dir, "group", "member", "list", "m") == {}
        registry.create_user("leaver", PASSWORD)  # the same name again starts with no roles
        assert granted_access(get_token(registry.url, [f"repository:m/app:{ALL}"], login("leaver"))) == {"m/app": []}

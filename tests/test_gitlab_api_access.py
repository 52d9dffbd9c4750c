"""Users, tokens, projects, groups, members and deploy tokens through `/api/v4`, driven by python-gitlab."""

from __future__ import annotations

import datetime
from collections.abc import Iterator

import gitlab
import httpx
import pytest
from tinyreg.testing import run_registry

from tests.auth_helpers import basic_auth, get_token, granted_access
from tests.gitlab_helpers import GitLabWorld, gitlab_error


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GitLabWorld]:
    with run_registry(tmp_path_factory.mktemp("gitlab-access"), auth=True) as registry:
        yield GitLabWorld.build(registry)


def user_id(world: GitLabWorld, name: str) -> int:
    return int(world.gitlab("root").users.list(username=name)[0].id)


# -- users and personal access tokens ------------------------------------------------------


def test_the_current_user_is_the_tokens_owner(world: GitLabWorld) -> None:
    client = world.gitlab("alice")
    client.auth()
    assert client.user is not None
    assert (client.user.username, client.user.is_admin) == ("alice", False)
    assert world.gitlab("root").users.get(client.user.id).username == "alice"


def test_admins_add_and_remove_users(world: GitLabWorld) -> None:
    admin = world.gitlab("root")
    made = admin.users.create({"username": "erin", "name": "Erin", "email": "erin@example.com", "password": "erin-Pa55-phrase"})
    assert made.username == "erin" and isinstance(made.id, int)
    assert [u.username for u in admin.users.list(search="eri")] == ["erin"]
    assert gitlab_error(lambda: admin.users.create({"username": "erin", "name": "x", "email": "x@y"}), 409)
    assert gitlab_error(lambda: world.gitlab("alice").users.create({"username": "x", "name": "x", "email": "x@y"}), 403)
    admin.users.delete(made.id)
    assert gitlab_error(lambda: admin.users.get(made.id), 404) == "404 User Not Found"


def test_personal_access_tokens_are_made_listed_shown_and_revoked(world: GitLabWorld) -> None:
    admin = world.gitlab("root")
    expires = (datetime.date.today() + datetime.timedelta(days=30)).isoformat()
    made = admin.users.get(user_id(world, "carol")).personal_access_tokens.create(
        {"name": "ci", "scopes": ["read_registry", "read_api"], "expires_at": expires}
    )
    assert made.token and made.scopes == ["read_api", "read_registry"] and made.expires_at == expires
    assert made.user_id == user_id(world, "carol") and made.active
    carol = world.gitlab(token=made.token)
    assert carol.personal_access_tokens.get("self").id == made.id
    assert made.id in [t.id for t in world.gitlab("carol").personal_access_tokens.list()]
    assert "token" not in world.gitlab("carol").personal_access_tokens.get(made.id).attributes
    assert made.id not in [t.id for t in world.gitlab("alice").personal_access_tokens.list()]
    world.gitlab("carol").personal_access_tokens.delete(made.id)
    assert gitlab_error(lambda: carol.personal_access_tokens.get("self"), 401) == "401 Unauthorized"


def test_users_make_tokens_for_themselves_and_log_in_to_the_registry_with_them(world: GitLabWorld) -> None:
    response = httpx.post(
        f"{world.url}/api/v4/user/personal_access_tokens",
        json={"name": "laptop", "scopes": ["read_registry"]},
        headers={"PRIVATE-TOKEN": world.tokens["bob"]},
    )
    assert response.status_code == 201, response.text
    secret = response.json()["token"]
    assert get_token(world.url, ["repository:team/app:pull"], basic_auth("bob", secret)).status_code == 200
    bearer = httpx.get(f"{world.url}/api/v4/user", headers={"Authorization": f"Bearer {world.tokens['bob']}"})
    assert bearer.json()["username"] == "bob"


# -- projects ------------------------------------------------------------------------------


def test_a_project_by_id_or_encoded_path_has_gitlabs_fields(world: GitLabWorld) -> None:
    client = world.gitlab("alice")
    project = client.projects.get("team/app")
    assert client.projects.get(project.id).path_with_namespace == "team/app"
    assert (project.name, project.path, project.visibility) == ("app", "app", "private")
    assert project.namespace["full_path"] == "team"
    assert project.container_registry_enabled and project.container_registry_access_level == "enabled"
    assert project.container_registry_image_prefix == f"{world.registry.host}/team/app".lower()
    assert project.web_url == f"{world.url}/team/app"
    raw = httpx.get(f"{world.url}/api/v4/projects/team%2Fapp", headers={"PRIVATE-TOKEN": world.tokens["alice"]})
    assert raw.json()["id"] == project.id


def test_projects_list_what_the_caller_sees(world: GitLabWorld) -> None:
    assert {p.path_with_namespace for p in world.gitlab("bob").projects.list(get_all=True)} >= {"team/app", "pub/site"}
    assert "carol/box" not in {p.path_with_namespace for p in world.gitlab("bob").projects.list(get_all=True)}
    assert {p.path_with_namespace for p in world.gitlab().projects.list(get_all=True)} == {"pub/site"}
    assert [p.path_with_namespace for p in world.gitlab("bob").projects.list(membership=True, search="team")] == ["team/app"]
    assert {p.path_with_namespace for p in world.gitlab("alice").projects.list(owned=True, get_all=True)} == {
        "team/app",
        "pub/site",
    }


def test_projects_are_created_and_changed(world: GitLabWorld) -> None:
    client = world.gitlab("carol")
    made = client.projects.create({"path": "tools", "visibility": "public"})
    assert (made.path_with_namespace, made.visibility) == ("carol/tools", "public")
    assert world.gitlab().projects.get("carol/tools").id == made.id
    made.visibility = "private"
    made.container_registry_access_level = "disabled"
    made.save()
    fetched = client.projects.get(made.id)
    assert (fetched.visibility, fetched.container_registry_access_level, fetched.container_registry_enabled) == (
        "private",
        "disabled",
        False,
    )
    assert gitlab_error(lambda: world.gitlab().projects.get(made.id), 404) == "404 Project Not Found"
    taken = gitlab_error(lambda: client.projects.create({"path": "tools"}), 400)
    assert taken == {"path": ["has already been taken"]}
    wrong = gitlab_error(lambda: client.projects.update(made.id, {"visibility": "secret"}), 400)
    assert wrong == "visibility does not have a valid value"


def test_a_private_registry_in_a_public_project_is_for_members_only(world: GitLabWorld) -> None:
    made = world.gitlab("carol").projects.create({"path": "half", "visibility": "public"})
    world.gitlab("carol").projects.update(made.id, {"container_registry_access_level": "private"})
    assert world.gitlab().projects.get(made.id).container_registry_access_level == "private"
    assert gitlab_error(lambda: world.gitlab().projects.get(made.id).repositories.list(), 403) == "403 Forbidden"
    assert granted_access(get_token(world.url, ["repository:carol/half:pull"])) == {"carol/half": []}


# -- members -------------------------------------------------------------------------------


def test_project_members_with_gitlab_access_levels(world: GitLabWorld) -> None:
    project = world.gitlab("alice").projects.get("pub/site")
    carol = user_id(world, "carol")
    added = project.members.create({"user_id": carol, "access_level": gitlab.const.AccessLevel.DEVELOPER})
    assert (added.username, added.access_level) == ("carol", 30)
    assert gitlab_error(lambda: project.members.create({"user_id": carol, "access_level": 30}), 409) == "Member already exists"
    member = project.members.get(carol)
    member.access_level = gitlab.const.AccessLevel.MAINTAINER
    member.save()
    assert {m.username: m.access_level for m in project.members.list()} == {"alice": 50, "carol": 40}
    bad = gitlab_error(lambda: project.members.update(carol, {"access_level": 35}), 400)
    assert bad == "access_level does not have a valid value"
    project.members.delete(carol)
    assert gitlab_error(lambda: project.members.delete(carol), 404) == "404 Member Not Found"


# -- deploy tokens -------------------------------------------------------------------------


def test_deploy_tokens_are_shown_once_and_revoked(world: GitLabWorld) -> None:
    project = world.gitlab("alice").projects.get("team/app")
    made = project.deploytokens.create({"name": "ci", "scopes": ["read_registry"]})
    assert made.token and made.username.startswith("tinyreg+deploy-token-")
    assert get_token(world.url, ["repository:team/app:pull"], basic_auth(made.username, made.token)).status_code == 200
    listed = {t.id: t for t in project.deploytokens.list()}
    assert made.id in listed and "token" not in listed[made.id].attributes
    project.deploytokens.delete(made.id)
    assert made.id not in [t.id for t in project.deploytokens.list()]
    assert get_token(world.url, ["repository:team/app:pull"], basic_auth(made.username, made.token)).status_code == 401
    assert gitlab_error(lambda: project.deploytokens.delete(made.id), 404) == "404 Deploy Token Not Found"
    assert gitlab_error(lambda: world.gitlab("bob").projects.get("team/app").deploytokens.list(), 403) == "403 Forbidden"

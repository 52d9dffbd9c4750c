"""Cleanup policies through `/api/v4` (python-gitlab) and the `tinyreg cleanup` command."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator

import pytest
from tinyreg.testing import run_registry

from tests.gitlab_helpers import GitLabWorld, gitlab_error
from tests.processes import clean_env, tinyreg_command


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GitLabWorld]:
    with run_registry(tmp_path_factory.mktemp("gitlab-cleanup"), auth=True) as registry:
        yield GitLabWorld.build(registry)


def tinyreg(world: GitLabWorld, *args: str) -> subprocess.CompletedProcess[str]:
    command = tinyreg_command(*args, "--data", str(world.registry.data_dir))
    return subprocess.run(command, env=clean_env(), capture_output=True, text=True, timeout=60)


def test_a_projects_policy_has_gitlabs_fields_and_defaults(world: GitLabWorld) -> None:
    policy = world.gitlab("carol").projects.get("carol/box").container_expiration_policy
    assert policy == {
        "cadence": "1d",
        "enabled": False,
        "keep_n": 10,
        "older_than": "90d",
        "name_regex": ".*",
        "name_regex_keep": None,
        "next_run_at": None,
    }


def test_maintainers_set_the_policy_with_python_gitlab(world: GitLabWorld) -> None:
    project = world.gitlab("alice").projects.get("pub/site")
    project.container_expiration_policy_attributes = {
        "enabled": True,
        "cadence": "7d",
        "keep_n": 5,
        "older_than": "14d",
        "name_regex": ".*",
        "name_regex_keep": "v.*",
    }
    project.save()
    policy = world.gitlab("alice").projects.get("pub/site").container_expiration_policy
    assert {k: v for k, v in policy.items() if k != "next_run_at"} == {
        "cadence": "7d",
        "enabled": True,
        "keep_n": 5,
        "older_than": "14d",
        "name_regex": ".*",
        "name_regex_keep": "v.*",
    }
    assert policy["next_run_at"].endswith("Z")


@pytest.mark.parametrize(
    ("attributes", "message"),
    [
        ({"keep_n": 7}, "container_expiration_policy_attributes[keep_n] must be one of 1, 5, 10, 25, 50, 100"),
        ({"cadence": "2d"}, "container_expiration_policy_attributes[cadence] must be one of 1d, 7d, 14d, 1month, 3month"),
        ({"older_than": "1d"}, "container_expiration_policy_attributes[older_than] must be one of 7d, 14d, 30d, 90d"),
    ],
)
def test_values_gitlab_does_not_allow_are_refused(world: GitLabWorld, attributes: dict[str, object], message: str) -> None:
    client = world.gitlab("carol")
    error = gitlab_error(lambda: client.projects.update("carol/box", {"container_expiration_policy_attributes": attributes}), 400)
    assert error == message
    assert client.projects.get("carol/box").container_expiration_policy["keep_n"] == 10


def test_only_maintainers_change_the_policy(world: GitLabWorld) -> None:
    update = {"container_expiration_policy_attributes": {"enabled": True}}
    gitlab_error(lambda: world.gitlab("bob").projects.update("team/app", update), 403)
    assert world.gitlab("alice").projects.get("team/app").container_expiration_policy["enabled"] is False


def test_cleanup_command_says_what_it_removes_and_why_the_rest_stays(world: GitLabWorld) -> None:
    for tag in ("latest", "v1", "a", "b", "c"):
        world.push("carol/box/img", tag, seed=f"cleanup-{tag}")
    set_policy = tinyreg(
        world, "cleanup-policy", "set", "carol/box", "--keep-n", "1", "--older-than", "none", "--name-regex-keep", "v.*", "--json"
    )
    assert set_policy.returncode == 0, set_policy.stderr
    assert json.loads(set_policy.stdout)["keep_n"] == 1
    dry = tinyreg(world, "cleanup", "carol/box", "--dry-run", "--json")
    [planned] = json.loads(dry.stdout)
    assert planned["removed"] == {"carol/box/img": ["b", "a"]}
    assert planned["kept"]["carol/box/img"] == {
        "latest": "latest is never deleted",
        "v1": "matches name_regex_keep",
        "c": "among the keep_n most recently pushed",
    }
    enabled_only = [run["project"] for run in json.loads(tinyreg(world, "cleanup", "--json").stdout)]
    assert "carol/box" not in enabled_only  # not enabled: it runs only when named
    done = tinyreg(world, "cleanup", "carol/box")
    assert "removed 2 tags" in done.stdout and "kept carol/box/img:v1 (matches name_regex_keep)" in done.stdout
    tags = world.gitlab("carol").projects.get("carol/box").repositories.list()[0].tags.list()
    assert sorted(tag.name for tag in tags) == ["c", "latest", "v1"]

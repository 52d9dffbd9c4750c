"""Events of changes made elsewhere than on /v2/: deletes through the GitLab API and the panel,
cleanup runs (the scheduler's and `tinyreg cleanup`), and moves (the command, the API).

Real registries deliver to receivers in the test (tests/notify_helpers.py); the endpoint ignores
pushes, pulls and mounts, so what arrives is what these changes queued. Waits are bounded.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tinyreg.registry.notification_settings import parse_notifications
from tinyreg.testing import run_registry

from tests.auth_helpers import admin_ok
from tests.gitlab_helpers import GitLabWorld
from tests.notify_helpers import Receiver
from tests.panel.browsing import PanelClient


class Setup:
    """A GitLab-shaped world whose registry notifies `receiver`, and the config file naming the
    same endpoint, for the commands run beside the server."""

    def __init__(self, world: GitLabWorld, config: Path, receiver: Receiver) -> None:
        self.world, self.config, self.receiver = world, config, receiver

    def admin(self, *args: str) -> Any:
        return admin_ok(self.world.registry.data_dir, *args, "--config", str(self.config))

    def api(self, who: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"PRIVATE-TOKEN": self.world.tokens[who]}
        return httpx.request(method, f"{self.world.url}/api/v4{path}", headers=headers, timeout=60, **kwargs)

    def repository_id(self, project: str, repo: str) -> int:
        return int(next(r.id for r in self.world.gitlab("alice").projects.get(project).repositories.list() if r.path == repo))


def config_text(receiver: Receiver) -> str:
    return (
        f'[[notifications.endpoints]]\nname = "listener"\nurl = "{receiver.url}"\nbackoff = "0.05"\n'
        'ignore = { actions = ["push", "pull", "mount"] }\n'
    )


@pytest.fixture
def setup(tmp_path: Path, receiver: Receiver) -> Iterator[Setup]:
    config = tmp_path / "tinyreg.toml"
    config.write_text(config_text(receiver))
    notifications = parse_notifications(tomllib.loads(config.read_text())["notifications"], str(config))
    with run_registry(
        tmp_path / "data", auth=True, notifications=notifications, cleanup_interval=0.1, cleanup_cadence_seconds=1
    ) as registry:
        world = GitLabWorld.build(registry)
        registry.create_group("other", owner="alice")
        yield Setup(world, config, receiver)


def arrived(receiver: Receiver, count: int) -> list[dict[str, Any]]:
    """The first `count` events, once that many arrived (fails, saying what came, if they do not)."""
    assert receiver.wait_for(lambda r: len(r.events()) >= count), receiver.events()
    return receiver.events()[:count]


def targets(events: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    return sorted(((e["action"], e["target"]) for e in events), key=repr)


def test_deletes_through_the_api_are_events_of_the_signed_in_user(setup: Setup) -> None:
    world = setup.world
    first, second = world.push("team/app", "v1", seed="one"), world.push("team/app", "v2", "v3", seed="two")
    rid = setup.repository_id("team/app", "team/app")
    one = setup.api("alice", "DELETE", f"/projects/team%2Fapp/registry/repositories/{rid}/tags/v1")
    assert one.status_code == 200, one.text
    [event] = arrived(setup.receiver, 1)
    assert (event["action"], event["target"]) == ("delete", {"repository": "team/app", "digest": first.digest, "tag": "v1"})
    assert event["actor"] == {"name": "alice"}
    assert event["request"]["method"] == "DELETE" and event["request"]["id"] == one.headers["x-request-id"]
    assert event["request"]["addr"].startswith("127.0.0.1:") and event["request"]["host"] == world.url.split("://")[1]

    bulk = setup.api(
        "alice", "DELETE", f"/projects/team%2Fapp/registry/repositories/{rid}/tags", params={"name_regex_delete": "v2"}
    )
    assert bulk.status_code == 202, bulk.text
    assert targets(arrived(setup.receiver, 2)[1:]) == [
        ("delete", {"repository": "team/app", "digest": second.digest, "tag": "v2"})
    ]

    gone = setup.api("alice", "DELETE", f"/projects/team%2Fapp/registry/repositories/{rid}")
    assert gone.status_code == 202, gone.text
    # Each manifest of the repository, as a delete by digest over /v2/ says it (its tags went with it).
    assert targets(arrived(setup.receiver, 4)[2:]) == targets(
        [
            {"action": "delete", "target": {"repository": "team/app", "digest": first.digest}},
            {"action": "delete", "target": {"repository": "team/app", "digest": second.digest}},
        ]
    )
    assert {e["actor"]["name"] for e in setup.receiver.events()} == {"alice"}


def test_a_tag_deleted_in_the_panel_is_an_event(setup: Setup) -> None:
    pushed = setup.world.push("team/app", "v1", "v2")
    alice = PanelClient(setup.world.url).signed_in("alice", "alice-Pa55-phrase-alice")
    done = alice.post("/team/app/-/tags/delete", {"tag": "v1", "confirmed": "yes"}, csrf_from="/team/app/-/tags")
    assert done.status_code == 303, done.text[:500]
    [event] = arrived(setup.receiver, 1)
    assert (event["action"], event["target"]) == ("delete", {"repository": "team/app", "digest": pushed.digest, "tag": "v1"})
    assert event["actor"] == {"name": "alice"} and event["request"]["method"] == "POST"
    assert event["request"]["id"] == done.headers["x-request-id"]
    alice.close()


def cleanup_targets(old: str) -> list[tuple[str, dict[str, Any]]]:
    """What a policy keeping the newest tag removes of team/app's v1 (`old`) and v2: v1, and its manifest."""
    return targets(
        [
            {"action": "delete", "target": {"repository": "team/app", "digest": old, "tag": "v1"}},
            {"action": "delete", "target": {"repository": "team/app", "digest": old}},
        ]
    )


def test_tinyreg_cleanup_reports_what_it_removes(setup: Setup) -> None:
    old = setup.world.push("team/app", "v1", seed="old")
    setup.world.push("team/app", "v2", seed="new")
    setup.admin("cleanup-policy", "set", "team/app", "--keep-n", "1", "--older-than", "none", "--name-regex", ".*")
    [run] = setup.admin("cleanup", "team/app")
    assert run["removed"] == {"team/app": ["v1"]} and run["manifests_deleted"] == 1
    events = arrived(setup.receiver, 2)
    assert targets(events) == cleanup_targets(old.digest)
    for event in events:  # no client asked: the origin says what did
        assert event["request"] == {
            "id": events[0]["request"]["id"],
            "addr": "",
            "host": "",
            "method": "CLEANUP",
            "useragent": "",
        }
        assert event["actor"] == {}


def test_the_scheduled_cleanup_reports_what_it_removes(setup: Setup) -> None:
    old = setup.world.push("team/app", "v1", seed="old")
    setup.world.push("team/app", "v2", seed="new")
    setup.admin("cleanup-policy", "set", "team/app", "--enabled", "--keep-n", "1", "--older-than", "none", "--name-regex", ".*")
    events = arrived(setup.receiver, 2)  # the policy falls due a second later; the server's scheduler runs it
    assert targets(events) == cleanup_targets(old.digest)
    assert {e["request"]["method"] for e in events} == {"CLEANUP"}


def moves_of(events: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    return targets([e for e in events if e["action"] == "move"])


def test_a_project_moved_by_the_command_is_a_move_per_repository_for_endpoints_and_its_hooks(setup: Setup) -> None:
    hook = Receiver().start()
    try:
        created = setup.api("alice", "POST", "/projects/team%2Fapp/hooks", json={"url": hook.url})
        assert created.status_code == 201 and created.json()["registry_actions"] == ["push", "delete", "mount", "move"]
        setup.world.push("team/app", "v1")
        setup.world.push("team/app/api", "1.0")
        report = setup.admin("project", "move", "team/app", "other/web")
        assert report["repositories"] == {"team/app": "other/web", "team/app/api": "other/web/api"}
        expected = [
            ("move", {"repository": "other/web", "fromRepository": "team/app"}),
            ("move", {"repository": "other/web/api", "fromRepository": "team/app/api"}),
        ]
        events = arrived(setup.receiver, 2)
        assert targets(events) == expected
        assert {(e["request"]["method"], e["request"]["addr"]) for e in events} == {("COMMAND", "")}
        # The hook moved with its project, and hears of it (after the pushes it also asked for).
        assert hook.wait_for(lambda r: len(moves_of(r.events())) == 2), hook.events()
        assert moves_of(hook.events()) == expected
    finally:
        hook.stop()


def test_a_transfer_through_the_api_is_a_move_event_of_its_user(setup: Setup) -> None:
    setup.world.push("team/app", "v1")
    setup.world.push("team/app/api", "1.0")
    setup.world.gitlab("alice").projects.get("team/app").transfer("other")
    events = arrived(setup.receiver, 2)
    assert targets(events) == [
        ("move", {"repository": "other/app", "fromRepository": "team/app"}),
        ("move", {"repository": "other/app/api", "fromRepository": "team/app/api"}),
    ]
    assert {(e["actor"]["name"], e["request"]["method"]) for e in events} == {("alice", "PUT")}


def test_a_repository_moved_to_another_project_is_heard_by_both_projects_hooks(setup: Setup) -> None:
    hooks = {path: Receiver().start() for path in ("team/app", "pub/site")}
    try:
        for path, hook in hooks.items():
            added = setup.api("alice", "POST", f"/projects/{path.replace('/', '%2F')}/hooks", json={"url": hook.url})
            assert added.status_code == 201, added.text
        setup.world.push("team/app/api", "1.0")
        rid = setup.repository_id("team/app", "team/app/api")
        moved = setup.api("alice", "PUT", f"/projects/team%2Fapp/registry/repositories/{rid}", json={"path": "pub/site/api"})
        assert moved.status_code == 200, moved.text
        expected = [("move", {"repository": "pub/site/api", "fromRepository": "team/app/api"})]
        assert targets(arrived(setup.receiver, 1)) == expected
        for hook in hooks.values():
            assert hook.wait_for(lambda r: len(moves_of(r.events())) == 1), hook.events()
            assert moves_of(hook.events()) == expected
    finally:
        for hook in hooks.values():
            hook.stop()

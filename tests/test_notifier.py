"""Which events are queued, for which targets, in the unit of work of their change (storage, no socket)."""

from __future__ import annotations

from pathlib import Path

from tinyreg.registry.core import Registry
from tinyreg.registry.events import BLOB_MEDIA_TYPE, Origin, Subject
from tinyreg.registry.notification_settings import Endpoint, NotificationSettings

ORIGIN = Origin("r", "127.0.0.1:1", "h", "PUT", "ua", "alice", "http://h")
NO_BLOBS = Endpoint("manifests", "http://h/e", ignored_media_types=frozenset({BLOB_MEDIA_TYPE}))
NO_PULLS = Endpoint("changes", "http://h/e", ignored_actions=frozenset({"pull"}))


def queued(registry: Registry) -> dict[str, int]:
    with registry.meta.read() as tx:
        return {queue: state["queued"] for queue, state in tx.iter_event_states()}


def record(registry: Registry, subject: Subject, origin: Origin | None = ORIGIN) -> None:
    registry.meta.write(lambda tx: registry.notifier.record(tx, subject, origin))


def test_each_endpoint_gets_what_it_does_not_ignore(tmp_path: Path) -> None:
    registry = Registry(tmp_path, notifications=NotificationSettings((NO_BLOBS, NO_PULLS)))
    record(registry, Subject("push", "blob", "team/app", "sha256:b", BLOB_MEDIA_TYPE, 3))
    record(registry, Subject("delete", "manifest", "team/app", "sha256:m"))  # no media type: never filtered
    assert queued(registry) == {"endpoint:changes": 2, "endpoint:manifests": 1}
    registry.close()


def test_nothing_is_recorded_for_an_action_nobody_wants(tmp_path: Path) -> None:
    registry = Registry(tmp_path, notifications=NotificationSettings((NO_PULLS,)))
    assert not registry.notifier.notes_pulls
    registry.notifier.note_pull(Subject("pull", "blob", "team/app", "sha256:b", BLOB_MEDIA_TYPE, 3), ORIGIN)
    assert registry.notifier.flush() == 0
    record(registry, Subject("push", "blob", "team/app", "sha256:b", BLOB_MEDIA_TYPE, 3), origin=None)  # not from a client
    assert queued(registry) == {}
    registry.close()


def test_a_hook_gets_the_events_of_its_projects_repositories_only(tmp_path: Path) -> None:
    registry = Registry(tmp_path)

    registry.meta.write(lambda tx: tx.put_project("team/app", {"id": 1, "public": False}))
    registry.meta.write(
        lambda tx: tx.put_project_hook("team/app", 7, {"url": "http://ci/hook", "registry_actions": ["push", "pull"]})
    )
    registry.notifier.look_for_hooks()
    record(registry, Subject("push", "manifest", "team/app/api", "sha256:m", "application/json", 2))
    record(registry, Subject("push", "manifest", "other/app", "sha256:m", "application/json", 2))
    record(registry, Subject("delete", "manifest", "team/app", "sha256:m"))  # not among its actions
    assert registry.notifier.notes_pulls
    registry.notifier.note_pull(Subject("pull", "blob", "team/app", "sha256:b", BLOB_MEDIA_TYPE, 3), ORIGIN)
    assert registry.notifier.flush() == 1
    assert queued(registry) == {"hook:7": 2}
    registry.close()

"""Delivery of event notifications: durable, at least once, bounded, never in the way of a push.

Real registries (embedded, or `tinyreg serve` subprocesses) push over HTTP to a receiver in the
test (tests/notify_helpers.py); waits are bounded, and nothing is timed.
"""

from __future__ import annotations

import hashlib
import logging
import re
from pathlib import Path

import httpx
import pytest
from tinyreg import samples
from tinyreg.registry.notification_settings import NotificationSettings
from tinyreg.testing import run_registry

from tests.helpers import push_blob
from tests.notify_helpers import Receiver
from tests.processes import ServerProcess, clean_env, wait_until


def push_over_http(client: httpx.Client, repo: str, tag: str) -> str:
    """Push a small image's blobs and its manifest, tagged; the manifest's digest."""
    image = samples.image(seed=f"{repo}:{tag}")
    for blob in image.blobs:
        push_blob(client, repo, blob)
    response = client.put(f"/v2/{repo}/manifests/{tag}", content=image.manifest, headers={"Content-Type": image.media_type})
    assert response.status_code == 201, response.text
    return image.digest


def image_type() -> str:
    return samples.image(seed="type").media_type


def pushed_manifests(receiver: Receiver) -> set[str]:
    return {e["target"]["digest"] for e in receiver.events() if e["action"] == "push" and "/manifests/" in e["target"]["url"]}


def metric(client: httpx.Client, name: str, endpoint: str = "endpoint:listener") -> float | None:
    """One sample of /metrics for the endpoint's queue, or None when it is not reported."""
    text = client.get("/metrics").text
    found = re.search(rf'^{name}{{endpoint="{re.escape(endpoint)}"}} (\S+)$', text, re.MULTILINE)
    return float(found.group(1)) if found else None


def wait_metric(client: httpx.Client, name: str, at_least: float) -> float:
    """Scrape until `name` reaches `at_least` (bounded); its value then."""
    wait_until(lambda: (metric(client, name) or 0) >= at_least, f"{name} >= {at_least}", timeout=60)
    return metric(client, name) or 0


def test_events_pushed_while_the_receiver_is_down_all_arrive_once_it_is_up(
    tmp_path: Path, receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    receiver.stop()  # its port is known; nothing listens there for now
    caplog.set_level(logging.INFO, "tinyreg.notifications")
    with run_registry(tmp_path / "data", notifications=receiver.settings(threshold=2)) as registry:
        client = httpx.Client(base_url=registry.url, timeout=60)
        digests = {push_over_http(client, "team/app", f"v{n}") for n in range(5)}
        wait_metric(client, "tinyreg_notification_attempts_failed_total", 4)  # delivery tried, and failed, past the threshold
        receiver.start()
        assert receiver.wait_for(lambda r: pushed_manifests(r) >= digests), receiver.events()
        assert wait_metric(client, "tinyreg_notification_events_delivered_total", 15) == 15  # 2 blobs + 1 manifest each
        assert metric(client, "tinyreg_notification_events_pending") == 0
    messages = [record.getMessage() for record in caplog.records if record.name == "tinyreg.notifications"]
    assert len([m for m in messages if "is failing" in m]) == 1  # once for the stretch, not per attempt or event
    assert len([m for m in messages if "is delivered to again" in m]) == 1


def test_events_pending_at_a_restart_are_delivered_after_it(tmp_path: Path, receiver: Receiver) -> None:
    receiver.stop()
    config = tmp_path / "tinyreg.toml"
    config.write_text(
        f'[[notifications.endpoints]]\nname = "listener"\nurl = "{receiver.url}"\nbackoff = "0.05"\nthreshold = 2\n'
        f'headers = {{ Authorization = ["Bearer restart"] }}\n'
    )
    args = ["serve", "--port", "0", "--data", str(tmp_path / "data"), "--config", str(config)]
    with ServerProcess(args, cwd=tmp_path, env=clean_env()) as first:
        with httpx.Client(base_url=first.wait_listening(), timeout=60) as client:
            digests = {push_over_http(client, "team/app", f"v{n}") for n in range(3)}
            assert metric(client, "tinyreg_notification_events_pending") == 9
        assert first.stop() == 0
    receiver.start()
    with (
        ServerProcess(args, cwd=tmp_path, env=clean_env()) as second,
        httpx.Client(base_url=second.wait_listening(), timeout=60) as client,
    ):
        assert receiver.wait_for(lambda r: pushed_manifests(r) >= digests), receiver.events()
        assert wait_metric(client, "tinyreg_notification_events_delivered_total", 9) == 9
    assert {post.headers["authorization"] for post in receiver.posts} == {"Bearer restart"}


def test_a_hanging_receiver_does_not_hold_pushes_back(tmp_path: Path, receiver: Receiver) -> None:
    receiver.stop()
    receiver.hang()  # accepts the connection, never answers
    settings = receiver.settings(timeout=3600.0)  # so the attempt hangs for the whole test
    with run_registry(tmp_path / "data", notifications=settings) as registry:
        client = httpx.Client(base_url=registry.url, timeout=60)
        push_over_http(client, "team/app", "first")
        assert receiver.wait_for(lambda r: r.attempts >= 1)  # a delivery is in flight, and hangs
        digests = [push_over_http(client, "team/app", f"v{n}") for n in range(20)]
        # Every push completed while the only delivery attempt still hangs.
        assert len(set(digests)) == 20
        assert receiver.attempts == 1 and receiver.posts == []
        assert metric(client, "tinyreg_notification_events_pending") == 63


def test_a_full_queue_drops_new_events_and_counts_them(tmp_path: Path, receiver: Receiver) -> None:
    receiver.stop()
    base = receiver.settings()
    settings = NotificationSettings(base.endpoints, max_pending=5)
    with run_registry(tmp_path / "data", notifications=settings) as registry:
        client = httpx.Client(base_url=registry.url, timeout=60)
        push_over_http(client, "team/app", "v1")
        push_over_http(client, "team/app", "v2")
        assert metric(client, "tinyreg_notification_events_pending") == 5
        assert metric(client, "tinyreg_notification_events_dropped_total") == 1
        assert metric(client, "tinyreg_notification_events_queued_total") == 5


def test_pulls_no_endpoint_wants_record_nothing(tmp_path: Path, receiver: Receiver) -> None:
    settings = receiver.settings(ignored_actions=frozenset({"pull"}))
    with run_registry(tmp_path / "data", notifications=settings) as registry:
        client = httpx.Client(base_url=registry.url, timeout=60)
        digest = push_over_http(client, "team/app", "v1")
        wait_metric(client, "tinyreg_notification_events_delivered_total", 3)
        for _ in range(3):
            assert client.get(f"/v2/team/app/manifests/{digest}", headers={"Accept": image_type()}).status_code == 200
        assert not registry._registry.notifier.notes_pulls
        assert metric(client, "tinyreg_notification_events_queued_total") == 3
    assert {e["action"] for e in receiver.events()} == {"push"}


def test_a_mount_and_a_tag_delete_arrive_with_their_fields(tmp_path: Path, receiver: Receiver) -> None:
    with run_registry(tmp_path / "data", notifications=receiver.settings()) as registry:
        client = httpx.Client(base_url=registry.url, timeout=60)
        digest = push_over_http(client, "team/base", "v1")
        layer = samples.image(seed="team/base:v1").blobs[1]
        layer_digest = "sha256:" + hashlib.sha256(layer).hexdigest()
        mounted = client.post(f"/v2/team/app/blobs/uploads/?mount={layer_digest}&from=team/base")
        assert mounted.status_code == 201
        assert client.delete("/v2/team/base/manifests/v1").status_code == 202
        assert receiver.wait_for(lambda r: {e["action"] for e in r.events()} >= {"push", "mount", "delete"})
    mount = next(e for e in receiver.events() if e["action"] == "mount")
    assert mount["target"] == {
        "mediaType": "application/octet-stream",
        "digest": layer_digest,
        "size": len(layer),
        "length": len(layer),
        "repository": "team/app",
        "url": f"{registry.url}/v2/team/app/blobs/{layer_digest}",
        "fromRepository": "team/base",
    }
    assert mount["request"]["method"] == "POST" and mount["actor"] == {}
    delete = next(e for e in receiver.events() if e["action"] == "delete")
    assert delete["target"] == {"repository": "team/base", "digest": digest, "tag": "v1"}


def test_with_two_workers_one_delivers_and_every_event_arrives_once(tmp_path: Path, receiver: Receiver) -> None:
    config = tmp_path / "tinyreg.toml"
    config.write_text(f'[[notifications.endpoints]]\nname = "listener"\nurl = "{receiver.url}"\n')
    args = ["serve", "--port", "0", "--data", str(tmp_path / "data"), "--workers", "2", "--config", str(config)]
    with ServerProcess(args, cwd=tmp_path, env=clean_env()) as server:
        url = server.wait_listening()
        digests = set()
        for n in range(8):  # a new connection each: the two workers take them in turn
            with httpx.Client(base_url=url, timeout=60) as client:
                digests.add(push_over_http(client, "team/app", f"v{n}"))
        assert receiver.wait_for(lambda r: pushed_manifests(r) >= digests and len(r.events()) >= 24), receiver.events()
        ids = [e["id"] for e in receiver.events()]
        assert len(ids) == len(set(ids)) == 24
        assert len({e["source"]["instanceID"] for e in receiver.events()}) in (1, 2)
        assert server.stop() == 0  # its workers too (a SIGKILL of the parent would leave them behind)

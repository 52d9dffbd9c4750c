"""skopeo against a registry with a notification endpoint: every action arrives as Distribution sends it.

skopeo logs in as alice (owner of `team/app`), pushes an image built by umoci, copies it back
and deletes it; the receiver gets the pushes of each blob and of the tagged manifest, the pulls
of the manifest and the blobs, and the delete, with the fields a Distribution receiver reads.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime

import pytest
from tinyreg.registry.events import EVENTS_MEDIA_TYPE
from tinyreg.registry.notification_settings import NotificationSettings
from tinyreg.testing import RunningRegistry, run_registry

from tests.notify_helpers import Receiver

from .tools import ImageFactory, Sandbox, Tool, push_args

pytestmark = pytest.mark.clients

PASSWORD = "alice-notify-passphrase"


@pytest.fixture
def tinyreg(tmp_path_factory: pytest.TempPathFactory, receiver: Receiver) -> Iterator[RunningRegistry]:
    endpoint = receiver.endpoint(headers=(("Authorization", ("Bearer listener-secret",)), ("X-Extra", ("one", "two"))))
    settings = NotificationSettings((endpoint,))
    with run_registry(tmp_path_factory.mktemp("tinyreg-notify"), auth=True, notifications=settings) as registry:
        registry.create_user("alice", PASSWORD)
        registry.create_project("team/app", owner="alice")
        yield registry


def test_push_pull_and_delete_arrive_as_distribution_events(
    skopeo: Tool, sandbox: Sandbox, umoci_layout: ImageFactory, tinyreg: RunningRegistry, receiver: Receiver
) -> None:
    image = umoci_layout("v1", layer_count=2)
    skopeo("login", "--tls-verify=false", "--username", "alice", "--password-stdin", tinyreg.host, stdin=PASSWORD.encode())
    skopeo(*push_args(sandbox, "v1", "team/app:v1"))
    document = image.document
    blobs = {document["config"]["digest"], *(layer["digest"] for layer in document["layers"])}

    def pushed(r: Receiver) -> bool:
        return {e["target"]["digest"] for e in r.events() if e["action"] == "push"} >= {*blobs, image.digest}

    assert receiver.wait_for(pushed), receiver.events()
    skopeo("copy", "--src-tls-verify=false", sandbox.docker("team/app:v1"), f"oci:{sandbox.work / 'back'}:v1")
    assert receiver.wait_for(
        lambda r: {e["target"]["digest"] for e in r.events() if e["action"] == "pull"} >= {*blobs, image.digest}
    )
    skopeo("delete", "--tls-verify=false", sandbox.docker(f"team/app@{image.digest}"))
    assert receiver.wait_for(lambda r: any(e["action"] == "delete" for e in r.events()))

    for post in receiver.posts:
        assert post.headers["content-type"] == EVENTS_MEDIA_TYPE
        assert post.headers["authorization"] == "Bearer listener-secret"
        assert post.values("x-extra") == ["one", "two"]
        assert post.path == "/events"
    events = receiver.events()
    assert len({e["id"] for e in events}) == len(events)
    for event in events:
        datetime.fromisoformat(event["timestamp"])  # RFC 3339
        assert event["actor"] == {"name": "alice"}
        assert event["request"]["addr"].startswith("127.0.0.1:") and event["request"]["host"] == tinyreg.host
        assert re.fullmatch(r"[0-9a-f]{16}|[A-Za-z0-9._:/+=-]+", event["request"]["id"])
        assert "skopeo" in event["request"]["useragent"]
        assert event["source"]["addr"].endswith(":" + tinyreg.host.rsplit(":", 1)[1]) and event["source"]["instanceID"]
        assert event["target"]["repository"] == "team/app"

    manifest_push = next(e for e in events if e["action"] == "push" and e["target"]["digest"] == image.digest)
    assert manifest_push["request"]["method"] == "PUT"
    assert manifest_push["target"]["tag"] == "v1"
    assert manifest_push["target"]["mediaType"] == "application/vnd.oci.image.manifest.v1+json"
    assert manifest_push["target"]["size"] == manifest_push["target"]["length"] == len(image.manifest)
    assert manifest_push["target"]["url"] == f"{tinyreg.url}/v2/team/app/manifests/{image.digest}"
    assert {ref["digest"] for ref in manifest_push["target"]["references"]} == blobs

    blob_pushes = [e for e in events if e["action"] == "push" and e["target"]["digest"] in blobs]
    assert {e["target"]["mediaType"] for e in blob_pushes} == {"application/octet-stream"}
    assert all(e["request"]["method"] == "PUT" and "tag" not in e["target"] for e in blob_pushes)
    assert {e["target"]["url"] for e in blob_pushes} == {f"{tinyreg.url}/v2/team/app/blobs/{d}" for d in blobs}

    pulls = [e for e in events if e["action"] == "pull"]
    assert all(e["request"]["method"] == "GET" for e in pulls)
    manifest_pull = next(e for e in pulls if e["target"]["digest"] == image.digest)
    assert manifest_pull["target"]["tag"] == "v1" and manifest_pull["target"]["size"] == len(image.manifest)

    delete = next(e for e in events if e["action"] == "delete")
    assert delete["target"] == {"repository": "team/app", "digest": image.digest}
    assert delete["request"]["method"] == "DELETE"

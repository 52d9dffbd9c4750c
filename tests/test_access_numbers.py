"""Users, projects and repositories carry numeric ids, found again by number; a repository's
`updated` is when it was last published (a manifest put or a tag set) over HTTP."""

from __future__ import annotations

from pathlib import Path

from tinyreg.access.store import AccessStore
from tinyreg.storage.opening import open_meta
from tinyreg.testing import run_registry

from tests.helpers import api_client, make_blob, push_blob
from tests.manifest_builders import push_image


def test_users_and_projects_are_numbered_in_creation_order_and_found_by_number(tmp_path: Path) -> None:
    meta = open_meta(tmp_path / "data")
    try:
        store = AccessStore(meta)
        assert [store.add_user(name, None) for name in ("zed", "amy")] == [1, 2]
        assert store.create_project("team/app", owner="amy") == 1
        assert store.create_project("solo") == 2
        assert store.user_by_id(1) == {**store.user("zed"), "name": "zed", "id": 1}  # type: ignore[dict-item]
        assert store.user_by_id(3) is None
        found = store.project_by_id(2)
        assert found is not None and (found["path"], found["id"], found["public"]) == ("solo", 2, False)
        assert [u["id"] for u in store.users()] == [2, 1]  # listed by name, each with its id
        assert [p["id"] for p in store.projects()] == [2, 1]
        store.remove_user("zed")
        assert store.user_by_id(1) is None
        assert store.add_user("next", None) == 3  # numbers are never reused
    finally:
        meta.close()


def test_a_repository_is_numbered_at_its_first_push_and_updated_at_each_publication(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with run_registry(data) as registry, api_client(registry.url) as client:
        push_blob(client, "team/blobs", make_blob("only a blob"))
        first = push_image(client, "team/app", "v1", seed="one")
        push_image(client, "team/app", "v2", seed="two")
        push_image(client, "team/other", first.digest, seed="one")  # the same image, by digest
    meta = open_meta(data)
    try:
        store = AccessStore(meta)
        with meta.read() as tx:
            v2 = tx.tag("team/app", "v2")
            untagged = tx.manifest("team/other", first.digest)
        blobs, app, other = (store.repository_info(name) for name in ("team/blobs", "team/app", "team/other"))
        assert blobs is not None and blobs["id"] == 1 and blobs["updated"] is None  # nothing published yet
        assert app is not None and app["id"] == 2 and v2 is not None and app["updated"] == v2.pushed_at
        assert app["created"] <= app["updated"]
        assert other is not None and untagged is not None and other["updated"] == untagged["created"]
        assert store.repository_by_id(2) == app and store.repository_by_id(4) is None
        assert store.repository_info("team/none") is None
    finally:
        meta.close()

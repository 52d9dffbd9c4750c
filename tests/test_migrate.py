"""`tinyreg migrate --to`: a populated registry copied into another store is the same registry,
every digest verified; a second run copies only what is new; a corrupt source stops the copy."""

from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from tinyreg import samples
from tinyreg.digest import Digest
from tinyreg.storage.files import FileBlobStore
from tinyreg.storage.interfaces import CachedRepositoryRow, MetaStore, MetaWriter
from tinyreg.storage.opening import open_blobs, open_meta
from tinyreg.testing import RunningRegistry, run_registry

from tests.auth_helpers import basic_auth, tinyreg_admin
from tests.processes import ServerProcess, clean_env, tinyreg_command

PASSWORD = "alices-long-password"


def everything(meta: MetaStore) -> dict[str, Any]:
    """Every row a reader can list, as comparable data (what a faithful copy must reproduce)."""
    with meta.read() as tx:
        repos = list(tx.iter_repositories())
        return {
            "repositories": {repo: tx.repository_info(repo) for repo in repos},
            "manifests": {repo: list(tx.manifests_of(repo)) for repo in repos},
            "tags": {repo: list(tx.iter_tags(repo)) for repo in repos},
            "referrers": {
                (repo, row["subject"]): list(tx.referrers(repo, row["subject"]))
                for repo, _, row in tx.iter_manifests()
                if row["subject"]
            },
            "manifest_data": {digest: tx.manifest_data(digest) for digest in tx.iter_manifest_data()},
            "blobs": {digest: tx.blob(digest) for digest in tx.iter_blobs()},
            "links": list(tx.iter_links()),
            "users": list(tx.iter_users()),
            "projects": list(tx.iter_projects()),
            "groups": list(tx.iter_groups()),
            "members": [(p, u, tx.member(p, u)) for p, u in tx.iter_members()],
            "group_members": [(p, u, tx.group_member(p, u)) for p, u in tx.iter_group_members()],
            "tokens": [(key, tx.token(key)) for key in tx.iter_token_keys()],
            "counters": list(tx.iter_counters()),
            "usage": {
                kind: [(o, t, list(tx.usage_refs(kind, o))) for o, t in tx.usage_totals(kind)]
                for kind in ("project", "repository")
            },
            "stored": tx.stored_bytes(),
            "policies": list(tx.iter_cleanup_policies()),
            "hooks": list(tx.iter_project_hooks()),
            "aliases": list(tx.iter_aliases()),
            "cached": list(tx.iter_cached_repositories()),
            "pending": {queue: [e for _, e in tx.pending_events(queue, limit=100)] for queue, _ in tx.iter_event_states()},
        }


def populate(registry: RunningRegistry) -> str:
    """Users, a group, projects, members, tokens, images, an index, a referrer, a policy; a token secret."""
    registry.create_user("alice", PASSWORD)
    registry.create_user("bob", "bobs-long-password")
    registry.create_group("acme", owner="alice")
    registry.create_project("acme/web", owner="alice")
    registry.add_member("acme/web", "bob", "reporter")
    registry.create_project("solo/tool", public=True)
    token = registry.create_token("alice", name="laptop")
    registry.create_deploy_token("acme/web", ["read_registry"])
    children = [samples.image(layers=2, architecture=arch, seed=f"web-{arch}") for arch in ("amd64", "arm64")]
    for child in children:
        registry.push("acme/web/app", child, None)
    registry.push(
        "acme/web/app", samples.index(children, [{"os": "linux", "architecture": a} for a in ("amd64", "arm64")]), "1.0"
    )
    subject = registry.push_image("acme/web", "v1", layers=3)
    registry.push_artifact(
        "acme/web", None, {"sbom.json": b'{"sbom": 1}'}, artifact_type="application/spdx+json", subject=subject
    )
    registry.push_image("solo/tool", "latest")
    registry.push_image("solo/tool", "old")
    done = tinyreg_admin(registry.data_dir, "cleanup-policy", "set", "acme/web", "--enabled", "--keep-n", "5")
    assert done.returncode == 0, done.stderr
    registry.push_image("solo/old-name", "v1")
    moved = tinyreg_admin(registry.data_dir, "repository", "move", "solo/old-name", "solo/tool/renamed")
    assert moved.returncode == 0, moved.stderr  # leaves an alias behind
    return token


def add_hook_and_pending_events(data: Path) -> None:
    """Rows no client call above leaves behind by itself: a project's webhook, undelivered events, a cached repository."""
    meta = open_meta(data)
    try:

        def change(tx: MetaWriter) -> None:
            tx.put_project_hook("acme/web", 1, {"id": 1, "url": "http://127.0.0.1:9/hook", "token": "s", "created": 1.0})
            tx.queue_events("endpoint:ci", [f'{{"n": {n}}}'.encode() for n in range(3)], max_pending=10)
            cached: CachedRepositoryRow = {
                "mirror": "hub",
                "upstream": "library/alpine",
                "last_pulled": 2.0,
                "hits": 4,
                "misses": 1,
                "checked": {},
            }
            tx.put_cached_repository("hub/library/alpine", cached)

        meta.write(change)
    finally:
        meta.close()


def snapshot(data: Path) -> dict[str, Any]:
    meta = open_meta(data)
    try:
        return everything(meta)
    finally:
        meta.close()


def migrate(source: Path, target: Path) -> dict[str, Any]:
    done = tinyreg_admin(source, "migrate", "--to", str(target), "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_a_copied_registry_is_the_same_registry(tmp_path: Path) -> None:
    source, target = tmp_path / "source", tmp_path / "target"
    with run_registry(source, auth=True) as registry:
        token = populate(registry)
    add_hook_and_pending_events(source)
    before = snapshot(source)
    assert before["hooks"] and before["cached"] and before["pending"]["endpoint:ci"]

    report = migrate(source, target)
    assert report["blobs_copied"] == len(before["blobs"]) and report["blobs_present"] == 0
    assert report["tokens"] == 2 and report["users"] == 2 and report["repositories"] == 4 and report["aliases"] == 1
    assert snapshot(target) == before == snapshot(source)  # the source is left as it was

    with run_registry(target, auth=True) as copy:
        for user, secret in (("alice", PASSWORD), ("alice", token)):
            headers = basic_auth(user, secret)
            tags = httpx.get(f"{copy.url}/v2/acme/web/app/tags/list", headers=headers, timeout=30)
            assert tags.status_code == 200 and tags.json()["tags"] == ["1.0"], tags.text
        blobs = open_blobs(target)
        for digest, row in before["blobs"].items():
            algorithm, encoded = digest.split(":")
            with blobs.open(Digest(algorithm, encoded)) as file:
                data = file.read()
            assert len(data) == row["size"] and Digest.of(data, algorithm) == Digest(algorithm, encoded)
        copy.create_project("acme/next")  # counters came along: new ids do not collide with copied ones
    after = snapshot(target)
    ids = [row["id"] for _, row in after["projects"]]
    assert len(ids) == len(set(ids)) == 3


def test_a_second_run_copies_only_what_is_new(tmp_path: Path) -> None:
    source, target = tmp_path / "source", tmp_path / "target"
    with run_registry(source, auth=True) as registry:
        populate(registry)
    first = migrate(source, target)
    with run_registry(source, auth=True) as registry:
        registry.push_image("solo/tool", "new", layers=2)
    second = migrate(source, target)
    assert second["blobs_copied"] == 3  # the new image's config and two layers
    assert second["blobs_present"] == first["blobs_copied"]
    assert snapshot(target) == snapshot(source)


def test_a_blob_that_does_not_hash_to_its_digest_stops_the_copy(tmp_path: Path) -> None:
    source, target = tmp_path / "source", tmp_path / "target"
    with run_registry(source) as registry:
        digest = registry.push_blob("team/app", b"the real bytes of this blob")
    algorithm, encoded = digest.split(":")
    FileBlobStore(source).path(Digest(algorithm, encoded)).write_bytes(b"other bytes, the same size!")  # damaged on disk

    done = tinyreg_admin(source, "migrate", "--to", str(target))
    assert done.returncode == 1
    assert f"blob {digest} in the source does not hash to its digest" in done.stderr
    assert open_blobs(target).size(Digest(algorithm, encoded)) is None
    assert snapshot(target)["blobs"] == {}


def test_the_target_cannot_be_the_source(tmp_path: Path) -> None:
    with run_registry(tmp_path / "data") as registry:
        registry.push_image("team/app")
    done = tinyreg_admin(tmp_path / "data", "migrate", "--to", str(tmp_path / "data"))
    assert done.returncode == 1 and "the target is the storage being copied" in done.stderr


def test_a_registry_moves_up_to_postgresql_and_s3_and_back(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    """`migrate --to postgresql://... --to-blobs s3://...`, then from there into a new data directory:
    the same registry at each step, and a node serving the database and bucket answers logins."""
    source, back = tmp_path / "source", tmp_path / "back"
    with run_registry(source, auth=True) as registry:
        token = populate(registry)
    add_hook_and_pending_events(source)
    before = snapshot(source)
    database = request.getfixturevalue("postgres_cluster").fresh_database()
    gateway = request.getfixturevalue("ceph_rgw")
    env = clean_env(
        AWS_ENDPOINT_URL_S3=gateway.endpoint,
        AWS_ACCESS_KEY_ID=gateway.access_key,
        AWS_SECRET_ACCESS_KEY=gateway.secret_key,
        AWS_REGION=gateway.region,
    )
    bucket = f"s3://tinyreg-migrate/{uuid.uuid4().hex}"

    up = tinyreg_admin(source, "migrate", "--to", database, "--to-blobs", bucket, "--json", env=env)
    assert up.returncode == 0, up.stderr
    assert json.loads(up.stdout)["blobs_copied"] == len(before["blobs"])
    meta = open_meta(tmp_path, database)
    try:
        assert everything(meta) == before
    finally:
        meta.close()

    args = ["serve", "--auth", "--port", "0", "--data", str(tmp_path / "node"), "--metadata", database, "--blobs", bucket]
    with ServerProcess(args, cwd=tmp_path, env=env) as node:
        url = node.wait_listening()
        tags = httpx.get(f"{url}/v2/acme/web/app/tags/list", headers=basic_auth("alice", token), timeout=30)
        assert tags.status_code == 200 and tags.json()["tags"] == ["1.0"], tags.text
        assert node.stop() == 0

    down = subprocess.run(
        tinyreg_command(
            "migrate", "--metadata", database, "--blobs", bucket, "--data", str(tmp_path / "node"), "--to", str(back)
        ),
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert down.returncode == 0, down.stderr
    assert snapshot(back) == before


def test_a_target_holding_another_registry_is_refused_before_anything_is_copied(tmp_path: Path) -> None:
    source, target = tmp_path / "source", tmp_path / "target"
    with run_registry(source) as registry:
        registry.push_image("team/app", "v1")
    with run_registry(target) as other:
        other.push_image("other/thing", "v1")
    before = snapshot(target)
    done = tinyreg_admin(source, "migrate", "--to", str(target))
    assert done.returncode == 1
    assert "the target holds another registry (repository other/thing is not the source's)" in done.stderr
    assert snapshot(target) == before

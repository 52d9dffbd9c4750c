"""Cleanup policies run against a real metadata store: each parameter, combinations, `latest`,
tags sharing a digest, multi-arch indexes, a policy that would remove everything, budgets and
the lease that lets one process of several run them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tinyreg.registry.cleanup import run_due, run_policy, set_policy, take_lease
from tinyreg.registry.tag_rules import KEPT_BY_COUNT, KEPT_BY_REGEX, KEPT_LATEST, KEPT_YOUNG
from tinyreg.storage.interfaces import ManifestRow, MetaStore, MetaWriter
from tinyreg.storage.opening import open_meta

NOW = 10_000_000.0
DAY = 86400.0
INDEX = "application/vnd.oci.image.index.v1+json"


def digest(n: int) -> str:
    return f"sha256:{n:064x}"


def manifest(refs: list[str], media_type: str = "application/vnd.oci.image.manifest.v1+json") -> ManifestRow:
    return {
        "media_type": media_type,
        "size": 10,
        "artifact_type": None,
        "subject": None,
        "annotations": None,
        "refs": refs,
        "created": 1.0,
    }


@pytest.fixture
def meta(tmp_path: Path) -> Iterator[MetaStore]:
    store = open_meta(tmp_path / "data")

    def project(tx: MetaWriter) -> None:
        tx.put_project("team/app", {"id": 1, "public": False, "registry_enabled": True})
        tx.put_project("team/app/nested", {"id": 2, "public": False, "registry_enabled": True})

    store.write(project)
    try:
        yield store
    finally:
        store.close()


def push(meta: MetaStore, repo: str, tags: dict[str, tuple[int, float]]) -> None:
    """Tag name -> (manifest number, days ago pushed)."""

    def change(tx: MetaWriter) -> None:
        for name, (number, days) in tags.items():
            tx.put_manifest(repo, digest(number), b"{}", manifest([]))
            tx.set_tag(repo, name, digest(number), NOW - days * DAY)

    meta.write(change)


def tags_of(meta: MetaStore, repo: str) -> set[str]:
    with meta.read() as tx:
        return {name for name, _ in tx.iter_tags(repo)}


def policy(meta: MetaStore, **changes: Any) -> dict[str, Any]:
    return set_policy(meta, "team/app", {"enabled": True, "keep_n": None, "older_than": None, **changes}, now=NOW)


TEN = {f"t{i}": (i, float(i)) for i in range(10)}  # t0 newest ... t9 oldest


@pytest.mark.parametrize(
    ("changes", "left"),
    [
        ({"keep_n": 5}, {"t0", "t1", "t2", "t3", "t4"}),
        ({"keep_n": 1}, {"t0"}),
        ({"older_than": "7d"}, {f"t{i}" for i in range(7)}),  # pushed less than 7 days ago stay
        ({"keep_n": 5, "older_than": "7d"}, {f"t{i}" for i in range(7)}),  # any keep rule keeps a tag
        ({"name_regex": "t[0-4]"}, {"t5", "t6", "t7", "t8", "t9"}),
        ({"name_regex_keep": "t[89]"}, {"t8", "t9"}),
        ({"name_regex": ""}, set(TEN)),  # no name_regex: nothing is removed
        ({"keep_n": 1, "name_regex_keep": "t9"}, {"t0", "t9"}),
        ({"name_regex": "t", "keep_n": 1}, set(TEN)),  # anchored: `t` matches no tag
    ],
)
def test_each_parameter_and_combinations(meta: MetaStore, changes: dict[str, Any], left: set[str]) -> None:
    push(meta, "team/app", TEN)
    run = run_policy(meta, "team/app", policy(meta, **changes), now=NOW)
    assert tags_of(meta, "team/app") == left
    assert set(run.removed.get("team/app", [])) == set(TEN) - left and run.finished


def test_a_policy_that_would_remove_everything_keeps_latest_and_keep_rules(meta: MetaStore) -> None:
    push(meta, "team/app", {"latest": (1, 50), "v1": (2, 40), "old": (3, 30)})
    run = run_policy(meta, "team/app", policy(meta, name_regex_keep="v.*"), now=NOW)
    assert tags_of(meta, "team/app") == {"latest", "v1"}
    assert run.kept["team/app"] == {"latest": KEPT_LATEST, "v1": KEPT_BY_REGEX}


def test_tags_sharing_a_digest_are_judged_one_by_one_and_the_manifest_stays(meta: MetaStore) -> None:
    push(meta, "team/app", {"a": (1, 1), "b": (1, 2), "c": (1, 3)})
    run = run_policy(meta, "team/app", policy(meta, keep_n=1), now=NOW)
    assert tags_of(meta, "team/app") == {"a"} and run.kept["team/app"] == {"a": KEPT_BY_COUNT}
    with meta.read() as tx:
        assert tx.manifest("team/app", digest(1)) is not None


def test_removing_an_indexs_last_tag_deletes_the_index_and_keeps_its_children(meta: MetaStore) -> None:
    def change(tx: MetaWriter) -> None:
        for child in (11, 12):
            tx.put_manifest("team/app", digest(child), b"{}", manifest([]))
        tx.put_manifest("team/app", digest(10), b"{}", manifest([digest(11), digest(12)], INDEX))
        tx.set_tag("team/app", "multi", digest(10), NOW - 10 * DAY)
        tx.set_tag("team/app", "new", digest(11), NOW)

    meta.write(change)
    run_policy(meta, "team/app", policy(meta, older_than="7d"), now=NOW)
    assert tags_of(meta, "team/app") == {"new"}
    with meta.read() as tx:
        assert tx.manifest("team/app", digest(10)) is None
        assert all(tx.manifest("team/app", digest(n)) is not None for n in (11, 12))


def test_untagged_manifests_go_unless_something_refers_to_them(meta: MetaStore) -> None:
    signature: ManifestRow = {**manifest([]), "subject": digest(2)}

    def change(tx: MetaWriter) -> None:
        for n in (1, 2):
            tx.put_manifest("team/app", digest(n), b"{}", manifest([]))
            tx.set_tag("team/app", f"old{n}", digest(n), NOW - n * DAY)
        tx.put_manifest("team/app", digest(3), b"{}", signature)
        tx.set_tag("team/app", "new", digest(4), NOW)
        tx.put_manifest("team/app", digest(4), b"{}", manifest([]))

    meta.write(change)
    run = run_policy(meta, "team/app", policy(meta, keep_n=1), now=NOW)
    assert run.removed == {"team/app": ["old1", "old2"]} and run.manifests == 1
    with meta.read() as tx:
        assert tx.manifest("team/app", digest(1)) is None  # untagged: its blobs are garbage now
        assert tx.manifest("team/app", digest(2)) is not None  # a signature's subject stays


def test_a_project_runs_on_its_own_repositories_not_a_nested_projects(meta: MetaStore) -> None:
    push(meta, "team/app/web", {"x": (1, 1), "y": (2, 2)})
    push(meta, "team/app/nested", {"x": (1, 1), "y": (2, 2)})
    run = run_policy(meta, "team/app", policy(meta, keep_n=1), now=NOW)
    assert tags_of(meta, "team/app/web") == {"x"} and tags_of(meta, "team/app/nested") == {"x", "y"}
    assert set(run.kept) == {"team/app/web"}


def test_a_dry_run_removes_nothing_and_a_repush_in_between_wins(meta: MetaStore) -> None:
    push(meta, "team/app", TEN)
    row = policy(meta, keep_n=5)
    assert run_policy(meta, "team/app", row, now=NOW, dry_run=True).count == 5 and tags_of(meta, "team/app") == set(TEN)
    assert run_policy(meta, "team/app", row, now=NOW, budget=2).finished is False
    assert len(tags_of(meta, "team/app")) == 8


def test_due_policies_run_under_the_lease_within_the_budget(meta: MetaStore) -> None:
    push(meta, "team/app", TEN)
    policy(meta, keep_n=5, older_than=None)
    assert run_due(meta, holder="me", budget=10, lease_ttl=60, now=NOW + 1) == []  # scheduled a day ahead: not due
    assert take_lease(meta, "cleanup", "other", NOW, ttl=60)  # another process holds it
    assert run_due(meta, holder="me", budget=10, lease_ttl=60, cadence_seconds=1, now=NOW + 1) is None
    meta.write(lambda tx: tx.delete_lease("cleanup"))
    first = run_due(meta, holder="me", budget=3, lease_ttl=60, cadence_seconds=1, now=NOW + 1)
    assert first is not None and first[0].count == 3 and not first[0].finished  # stays due
    second = run_due(meta, holder="me", budget=3, lease_ttl=60, cadence_seconds=1, now=NOW + 1)
    assert second is not None and second[0].count == 2 and second[0].finished
    assert tags_of(meta, "team/app") == {"t0", "t1", "t2", "t3", "t4"}
    with meta.read() as tx:
        row = tx.cleanup_policy("team/app")
        assert row is not None and row["next_run_at"] > NOW and tx.lease("cleanup") is None


def test_an_expired_lease_is_taken_over(meta: MetaStore) -> None:
    assert take_lease(meta, "cleanup", "killed", 100.0, ttl=60)
    assert not take_lease(meta, "cleanup", "me", 159.0, ttl=60)
    assert take_lease(meta, "cleanup", "me", 161.0, ttl=60)


def test_young_tags_are_kept_with_the_reason(meta: MetaStore) -> None:
    push(meta, "team/app", {"fresh": (1, 1), "stale": (2, 30)})
    run = run_policy(meta, "team/app", policy(meta, older_than="14d"), now=NOW)
    assert run.kept["team/app"] == {"fresh": KEPT_YOUNG} and run.removed == {"team/app": ["stale"]}

"""The catalogue's read views and the registry's deletions, on a real data directory."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from tinyreg import samples
from tinyreg.registry.catalogue import (
    CatalogueError,
    ListQuery,
    list_repositories,
    list_tags,
    repository_summary,
    tag_detail,
    tag_infos,
)
from tinyreg.registry.core import Registry
from tinyreg.registry.manifests import OCI_INDEX
from tinyreg.registry.names import parse_digest

from tests.helpers import raises_registry_error

SIGNATURE = "application/vnd.dev.cosign.artifact.sig.v1+json"


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[Registry]:
    opened = Registry(tmp_path / "data")
    try:
        yield opened
    finally:
        opened.close()


def push(registry: Registry, repo: str, sample: samples.Sample, tag: str | None) -> str:
    for blob in sample.blobs:
        registry.blobs.put_bytes(repo, blob)
    return registry.manifests.put(repo, tag or sample.digest, sample.manifest, sample.media_type).digest


def sizes(sample: samples.Sample) -> int:
    return len(sample.manifest) + sum(len(blob) for blob in sample.blobs)


def test_a_repository_summary_counts_tags_and_distinct_bytes(registry: Registry) -> None:
    one, two = samples.image(layers=2, seed="a"), samples.image(layers=1, seed="b")
    push(registry, "team/app", one, "v1")
    push(registry, "team/app", one, "v1-again")  # same manifest: counted once
    push(registry, "team/app", two, "v2")
    summary = repository_summary(registry.meta, "team/app")
    assert summary is not None
    assert (summary.name, summary.tags_count) == ("team/app", 3)
    assert summary.size == sizes(one) + sizes(two)
    assert summary.created is not None and summary.updated is not None and summary.updated >= summary.created
    with registry.meta.read() as tx:
        assert tx.repository_by_id(summary.id) is not None
    assert repository_summary(registry.meta, "team/none") is None


def test_repositories_filter_sort_and_page(registry: Registry) -> None:
    for name in ("team/b", "team/a", "team/c", "other/x"):
        push(registry, name, samples.image(seed=name), "v1")
    push(registry, "team/a", samples.image(seed="later"), "v2")  # team/a updated last
    listing = list_repositories(registry.meta, ListQuery(per_page=2), under="team")
    assert ([r.name for r in listing.items], listing.total) == (["team/a", "team/b"], 3)
    listing = list_repositories(registry.meta, ListQuery(per_page=2, page=2), under="team")
    assert [r.name for r in listing.items] == ["team/c"]
    assert [r.name for r in list_repositories(registry.meta, ListQuery(order="desc")).items] == [
        "team/c",
        "team/b",
        "team/a",
        "other/x",
    ]
    by_update = list_repositories(registry.meta, ListQuery(sort="updated", order="desc"), under="team")
    assert by_update.items[0].name == "team/a"
    assert [r.name for r in list_repositories(registry.meta, ListQuery(search="b")).items] == ["team/b"]
    assert [r.name for r in list_repositories(registry.meta, ListQuery(), include=lambda n: n.endswith("c")).items] == ["team/c"]
    with pytest.raises(CatalogueError):
        ListQuery(sort="size")
    with pytest.raises(CatalogueError):
        ListQuery(page=0)


def test_an_image_tag_shows_its_size_layers_config_and_referrers(registry: Registry) -> None:
    image = samples.image(layers=3, seed="img")
    digest = push(registry, "team/app", image, "v1")
    signature = samples.artifact(
        {"sig": b"signed"}, artifact_type=SIGNATURE, subject=samples.descriptor(image.media_type, image.manifest)
    )
    signed = push(registry, "team/app", signature, None)
    detail = tag_detail(registry.meta, "team/app", "v1")
    assert detail is not None
    assert (detail.name, detail.digest, detail.media_type, detail.is_index) == ("v1", digest, image.media_type, False)
    assert detail.total_size == sizes(image)
    assert detail.layers == 3
    assert detail.config_digest == json.loads(image.manifest)["config"]["digest"]
    assert detail.pushed_at is not None and detail.platforms == []
    assert [(r.digest, r.artifact_type, r.size) for r in detail.referrers] == [(signed, SIGNATURE, sizes(signature))]
    assert tag_detail(registry.meta, "team/app", "nope") is None


def test_an_index_tag_lists_its_platforms_with_their_sizes(registry: Registry) -> None:
    amd, arm = samples.image(seed="amd"), samples.image(seed="arm", architecture="arm64", layers=2)
    for child in (amd, arm):
        push(registry, "team/multi", child, None)
    index = samples.index(
        [amd, arm], [{"os": "linux", "architecture": "amd64"}, {"os": "linux", "architecture": "arm64", "variant": "v8"}]
    )
    push(registry, "team/multi", index, "1.0")
    detail = tag_detail(registry.meta, "team/multi", "1.0")
    assert detail is not None and detail.is_index and detail.media_type == OCI_INDEX
    assert detail.layers is None and detail.config_digest is None
    assert [(p.digest, p.os, p.architecture, p.variant, p.size) for p in detail.platforms] == [
        (amd.digest, "linux", "amd64", None, sizes(amd)),
        (arm.digest, "linux", "arm64", "v8", sizes(arm)),
    ]
    assert detail.total_size == len(index.manifest) + sizes(amd) + sizes(arm)


def test_tags_filter_sort_and_page_with_details_for_the_page_only(registry: Registry) -> None:
    image = samples.image(seed="t")
    names = [f"v{i:02d}" for i in range(25)]
    for name in reversed(names):  # v00 pushed last
        push(registry, "team/app", image, name)
    listing = list_tags(registry.meta, "team/app", ListQuery(per_page=10, page=3))
    assert ([t.name for t in listing.items], listing.total) == (names[20:], 25)
    assert all(t.total_size == sizes(image) for t in listing.items)
    assert list_tags(registry.meta, "team/app", ListQuery(sort="updated", order="desc", per_page=1)).items[0].name == "v00"
    assert list_tags(registry.meta, "team/app", ListQuery(sort="updated", order="asc", per_page=1)).items[0].name == "v24"
    assert [t.name for t in list_tags(registry.meta, "team/app", ListQuery(order="desc", per_page=2)).items] == ["v24", "v23"]
    found = list_tags(registry.meta, "team/app", ListQuery(search="1"))
    assert found.total == len([n for n in names if "1" in n])
    assert list_tags(registry.meta, "team/app", ListQuery(page=9)).items == []
    assert [name for name, _ in tag_infos(registry.meta, "team/app")] == names


def test_deleting_tags_keeps_the_manifest_and_other_tags(registry: Registry) -> None:
    image = samples.image(seed="d")
    digest = push(registry, "team/app", image, "a")
    for tag in ("b", "c", "latest"):
        push(registry, "team/app", image, tag)
    registry.manifests.delete_tag("team/app", "a")
    with raises_registry_error("MANIFEST_UNKNOWN"):
        registry.manifests.delete_tag("team/app", "a")
    assert registry.manifests.delete_tags("team/app", ["b", "nope", "c"]) == ["b", "c"]
    assert [name for name, _ in tag_infos(registry.meta, "team/app")] == ["latest"]
    assert registry.manifests.get("team/app", digest).digest == digest


def test_deleting_a_repository_removes_it_and_leaves_its_neighbours(registry: Registry) -> None:
    image = samples.image(seed="r")
    push(registry, "team/app", image, "v1")
    push(registry, "team/app/sub", image, "v1")
    registry.manifests.delete_repository("team/app")
    assert repository_summary(registry.meta, "team/app") is None
    assert [r.name for r in list_repositories(registry.meta, ListQuery()).items] == ["team/app/sub"]
    with raises_registry_error("MANIFEST_UNKNOWN"):
        registry.manifests.get("team/app", image.digest)
    with raises_registry_error("BLOB_UNKNOWN"):
        registry.blobs.find("team/app", parse_digest(samples.sha256(image.blobs[0])))
    with raises_registry_error("NAME_UNKNOWN"):
        registry.manifests.delete_repository("team/app")
    assert registry.manifests.get("team/app/sub", "v1").digest == image.digest

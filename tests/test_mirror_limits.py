"""The pull-through cache bounded: a mirror's size limit evicts the least recently pulled
repositories (garbage collection then frees their blobs), and the admin API lists cached
images with their size and hit rate, and purges them."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import httpx
import pytest
from tinyreg import samples
from tinyreg.registry.mirrors import Mirror
from tinyreg.testing import run_registry

from tests.mirror_helpers import Distribution, pull, push_sample
from tests.processes import clean_env, tinyreg_command, wait_until


def _size(sample: samples.Sample) -> int:
    return len(sample.manifest) + sum(len(blob) for blob in sample.blobs)


def test_the_least_recently_pulled_repository_is_evicted_and_its_blobs_collected(upstream: Distribution, tmp_path: Path) -> None:
    images = {name: samples.image(layers=2, seed=f"evict-{name}") for name in ("a", "b", "c")}
    for name, image in images.items():
        push_sample(upstream.url, f"library/{name}", "1", image)
    limit = _size(images["a"]) + _size(images["c"]) + min(_size(image) for image in images.values()) // 2
    data = tmp_path / "cache-data"
    with (
        run_registry(data, mirrors=(Mirror("hub", upstream.url, size_limit=limit),)) as cache,
        httpx.Client(base_url=cache.url, timeout=60) as client,
    ):
        pull(client, "hub/library/a", "1")
        pull(client, "hub/library/b", "1")
        pull(client, "hub/library/a", "1")  # a is pulled again: b is now the least recently pulled
        pull(client, "hub/library/c", "1")
        listed = client.get("/api/v4/registry/mirrors/hub/repositories").json()
        assert [entry["repository"] for entry in listed] == ["hub/library/a", "hub/library/c"]
        assert client.get("/v2/hub/library/b/tags/list").status_code == 404
        collected = subprocess.run(
            tinyreg_command("gc", "--grace", "0", "--json", "--data", str(data)),
            capture_output=True,
            text=True,
            env=clean_env(),
            timeout=120,
        )
        assert collected.returncode == 0, collected.stderr
        freed = json.loads(collected.stdout)
        assert freed["bytes_freed"] == sum(len(blob) for blob in images["b"].blobs)
        pull(client, "hub/library/a", "1")  # what stays is whole
        pull(client, "hub/library/c", "1")


def test_admins_list_cached_images_with_hit_rates_and_purge_them(upstream: Distribution) -> None:
    image = samples.image(seed="api")
    push_sample(upstream.url, "library/alpine", "3.19", image)
    mirror = Mirror("hub", upstream.url, username="robot", password="not-shown-anywhere", size_limit=10**9)
    with run_registry(auth=True, mirrors=(mirror,)) as cache, httpx.Client(base_url=cache.url, timeout=60) as client:
        cache.create_user("root", "root-password-1", admin=True)
        cache.create_user("dev", "dev-password-1")
        admin = {"PRIVATE-TOKEN": cache.create_token("root", ["api"])}
        developer = {"PRIVATE-TOKEN": cache.create_token("dev", ["api"])}
        login = httpx.BasicAuth("dev", "dev-password-1")
        for _ in range(3):
            assert client.get("/v2/hub/library/alpine/manifests/3.19", auth=login).status_code == 200
        # Hits are written about once a second, in one unit of work for the whole cache.
        wait_until(lambda: client.get("/api/v4/registry/mirrors", headers=admin).json()[0]["hits"] == 2, "counting 2 hits")
        mirrors = client.get("/api/v4/registry/mirrors", headers=admin)
        assert mirrors.status_code == 200 and "not-shown-anywhere" not in mirrors.text
        (shown,) = mirrors.json()
        assert (shown["name"], shown["url"], shown["repositories"], shown["hits"], shown["misses"]) == (
            "hub",
            upstream.url,
            1,
            2,
            1,
        )
        assert shown["hit_rate"] == pytest.approx(2 / 3, abs=1e-3) and shown["size"] == _size(image)
        (entry,) = client.get("/api/v4/registry/mirrors/hub/repositories", headers=admin).json()
        assert (entry["repository"], entry["upstream"], entry["tags"], entry["size"]) == (
            "hub/library/alpine",
            "library/alpine",
            ["3.19"],
            _size(image),
        )
        assert client.get("/api/v4/registry/mirrors", headers=developer).status_code == 403
        assert client.delete("/api/v4/registry/mirrors/hub/repositories/library%2Falpine", headers=developer).status_code == 403
        assert client.delete("/api/v4/registry/mirrors/hub/repositories/library%2Falpine", headers=admin).status_code == 204
        assert client.delete("/api/v4/registry/mirrors/hub/repositories/library%2Falpine", headers=admin).status_code == 404
        assert client.get("/api/v4/registry/mirrors/nope/repositories", headers=admin).status_code == 404
        assert client.get("/api/v4/registry/mirrors/hub/repositories", headers=admin).json() == []
        before = len(upstream.requests("GET", "/manifests/3.19"))
        assert client.get("/v2/hub/library/alpine/manifests/3.19", auth=login).status_code == 200
        assert len(upstream.requests("GET", "/manifests/3.19")) == before + 1, "purged: fetched from upstream again"
        purged = client.delete("/api/v4/registry/mirrors/hub/repositories", headers=admin)
        assert purged.json() == {"purged": ["hub/library/alpine"]}

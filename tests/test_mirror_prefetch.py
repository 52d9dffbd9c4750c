"""Prefetch: an image manifest fetched from upstream starts the fetch of its config and first
layers before its client asks for them (against Distribution, whose access log shows what the
cache asked). A client coming after the prefetch read its blob gets the verified bytes kept for
it, without waiting for the blob's commit; one larger than what is kept waits for its client."""

from __future__ import annotations

import threading
import time

import httpx
from tinyreg import samples
from tinyreg.http.mirror_blobs import PREFETCH_HOLD
from tinyreg.registry.mirrors import Mirror
from tinyreg.testing import run_registry

from tests.mirror_helpers import MANIFEST_ACCEPT, Distribution, pull, push_sample, sha256


def _blobs_of(manifest: httpx.Response) -> list[str]:
    document = manifest.json()
    return [document["config"]["digest"], *(layer["digest"] for layer in document["layers"])]


def _blob_gets(upstream: Distribution, digests: list[str]) -> list[str]:
    return [path for path in upstream.requests("GET", "/blobs/") if any(path.endswith(d) for d in digests)]


def test_an_image_manifest_starts_the_fetch_of_its_blobs_before_its_client_asks(upstream: Distribution) -> None:
    push_sample(upstream.url, "library/app", "1", samples.image(layers=2, seed="prefetch"))
    with (
        run_registry(mirrors=(Mirror("hub", upstream.url),)) as cache,
        httpx.Client(base_url=cache.url, timeout=60) as client,
    ):
        manifest = client.get("/v2/hub/library/app/manifests/1", headers={"Accept": MANIFEST_ACCEPT})
        assert manifest.status_code == 200
        digests = _blobs_of(manifest)
        for _ in range(300):  # bounded: 30 s; upstream logs each GET once it answered it
            if len(_blob_gets(upstream, digests)) == len(digests):
                break
            time.sleep(0.1)
        assert sorted(path.rsplit("/", 1)[1] for path in _blob_gets(upstream, digests)) == sorted(digests)
        _, blobs = pull(client, "hub/library/app", "1")
        assert sorted(blobs) == sorted(digests)
        assert len(_blob_gets(upstream, digests)) == len(digests), "the client's GETs were served by the prefetches"


def test_a_client_coming_after_the_prefetch_gets_its_bytes_before_the_commit_ends(upstream: Distribution) -> None:
    image = samples.image(layers=1, seed="backlog")
    push_sample(upstream.url, "library/app", "1", image)
    committing, release = threading.Semaphore(0), threading.Event()
    with run_registry(mirrors=(Mirror("hub", upstream.url),)) as cache:
        store = cache._registry.store
        commit = store.commit

        def held_commit(upload_id: str, digest: object) -> None:
            committing.release()  # verified and being made durable: held until the test lets it go
            assert release.wait(timeout=60)
            commit(upload_id, digest)  # type: ignore[arg-type]  # the digest the flight passed

        store.commit = held_commit  # type: ignore[method-assign]  # the disk's sync, held by the test
        try:
            with httpx.Client(base_url=cache.url, timeout=30) as client:
                manifest = client.get("/v2/hub/library/app/manifests/1", headers={"Accept": MANIFEST_ACCEPT})
                digests = _blobs_of(manifest)
                for _ in digests:  # both prefetches verified their blob, before any client asked
                    assert committing.acquire(timeout=30)
                for digest in digests:
                    blob = client.get(f"/v2/hub/library/app/blobs/{digest}")
                    assert blob.status_code == 200 and sha256(blob.content) == digest
                assert not release.is_set()  # every body came while the commits were held
                release.set()
                _, blobs = pull(client, "hub/library/app", "1")
                assert sorted(blobs) == sorted(digests)
            assert len(_blob_gets(upstream, digests)) == len(digests)
        finally:
            release.set()


def test_a_prefetch_larger_than_it_keeps_waits_for_its_client(upstream: Distribution) -> None:
    big = samples.artifact(
        {"big.bin": bytes(range(256)) * (PREFETCH_HOLD // 256 * 3)},
        artifact_type="application/x-test",
        media_type="application/octet-stream",
    )
    push_sample(upstream.url, "library/big", "1", big)
    with (
        run_registry(mirrors=(Mirror("hub", upstream.url),)) as cache,
        httpx.Client(base_url=cache.url, timeout=60) as client,
    ):
        manifest, blobs = pull(client, "hub/library/big", "1")
        digests = _blobs_of(manifest)
        assert sorted(blobs) == sorted(digests) and max(map(len, blobs.values())) > PREFETCH_HOLD
        assert len(_blob_gets(upstream, digests)) == len(digests), "one upstream GET per blob"

"""Size limits over real HTTP: refusals with the spec's error body, as early as the size is known,
pushes that fit, reads and deletes over the limit, and two pushes racing for the last free bytes."""

from __future__ import annotations

import json
import logging
import socket
import threading
from collections.abc import Iterator

import httpx
import pytest
from tinyreg.testing import RunningRegistry, run_registry

from tests.helpers import api_client, assert_error, digest_of, push_blob, start_upload
from tests.manifest_builders import OCI_CONFIG, OCI_LAYER, OCI_MANIFEST, descriptor, encode, put_manifest

PROJECT = "team/app"
LAYER_A = (b"a0" * 3000)[:3000]  # the layer of image("a", [3000])
REFUSAL = (
    "project team/app is over its size limit: 3.5 KB used of 10 KB, this push would add 8.7 KB; "
    "delete images or ask an admin to raise the limit"
)


@pytest.fixture
def registry() -> Iterator[RunningRegistry]:
    with run_registry(default_size_limit="10KB") as running:
        running.create_project(PROJECT)
        yield running


def used(registry: RunningRegistry, project: str = PROJECT) -> int:
    with registry._registry.meta.read() as tx:
        return tx.usage_total("project", project)


def image(client: httpx.Client, repo: str, seed: str, layer_sizes: list[int]) -> bytes:
    """Push a config and layers of these sizes; the manifest over them (not pushed)."""
    config = json.dumps({"seed": seed}).encode()
    layers = [(f"{seed}{i}".encode() * size)[:size] for i, size in enumerate(layer_sizes)]
    for blob in (config, *layers):
        push_blob(client, repo, blob)
    return encode(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": descriptor(OCI_CONFIG, config),
            "layers": [descriptor(OCI_LAYER, layer) for layer in layers],
        }
    )


def test_a_push_that_fits_succeeds_and_one_over_the_limit_is_refused_at_its_manifest(registry: RunningRegistry) -> None:
    with api_client(registry.url) as client:
        first = image(client, PROJECT, "a", [3000])
        assert put_manifest(client, PROJECT, "v1", first, OCI_MANIFEST).status_code == 201
        before = used(registry)
        assert before == 3000 + len(json.dumps({"seed": "a"})) + len(first)
        # each layer fits on its own, so the uploads pass; together they do not
        second = image(client, PROJECT + "/api", "b", [4000, 4000])
        error = assert_error(put_manifest(client, PROJECT + "/api", "v1", second, OCI_MANIFEST), 403, "DENIED")
        assert error["message"] == REFUSAL
        assert used(registry) == before
        assert client.get(f"/v2/{PROJECT}/api/manifests/v1").status_code == 404
        # an image sharing the first one's layer adds only its config and manifest
        client.post(f"/v2/{PROJECT}/api/blobs/uploads/", params={"mount": digest_of(LAYER_A), "from": PROJECT})
        third = image(client, PROJECT + "/api", "c", [])
        third_doc = json.loads(third) | {"layers": [descriptor(OCI_LAYER, LAYER_A)]}
        assert put_manifest(client, PROJECT + "/api", "v1", encode(third_doc), OCI_MANIFEST).status_code == 201


def test_reads_deletes_and_pushes_adding_nothing_keep_working_over_the_limit(registry: RunningRegistry) -> None:
    with api_client(registry.url) as client:
        body = image(client, PROJECT, "a", [3000])
        assert put_manifest(client, PROJECT, "v1", body, OCI_MANIFEST).status_code == 201
        registry.set_size_limit(PROJECT, 100)  # lowered below what is used
        assert client.get(f"/v2/{PROJECT}/manifests/v1", headers={"Accept": OCI_MANIFEST}).content == body
        assert client.get(f"/v2/{PROJECT}/blobs/{digest_of(LAYER_A)}").status_code == 200
        assert put_manifest(client, PROJECT, "again", body, OCI_MANIFEST).status_code == 201  # a new tag adds nothing
        other = json.dumps({"seed": "other"}).encode()
        response = client.post(f"/v2/{PROJECT}/blobs/uploads/", params={"digest": digest_of(other)}, content=other)
        assert "100 B" in assert_error(response, 403, "DENIED")["message"]
        assert client.delete(f"/v2/{PROJECT}/manifests/{digest_of(body)}").status_code == 202
        assert used(registry) == 0
        registry.set_size_limit(PROJECT, None)  # its own `none` beats the default
        assert put_manifest(client, PROJECT, "big", image(client, PROJECT, "b", [20000]), OCI_MANIFEST).status_code == 201


def test_a_monolithic_upload_over_the_limit_is_refused_before_its_body_is_read(registry: RunningRegistry) -> None:
    host, port = registry.host.rsplit(":", 1)
    head = (
        f"POST /v2/{PROJECT}/blobs/uploads/?digest=sha256:{'0' * 64} HTTP/1.1\r\nHost: {registry.host}\r\n"
        "Content-Type: application/octet-stream\r\nContent-Length: 50000000000\r\n\r\n"
    )
    with socket.create_connection((host, int(port)), timeout=30) as connection:
        connection.sendall(head.encode())  # and not one byte of the 50 GB
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
            chunk = connection.recv(65536)
            if not chunk:
                break
            answer += chunk
    status, _, rest = answer.partition(b"\r\n")
    assert status.startswith(b"HTTP/1.1 403"), answer[:300]
    error = json.loads(rest.partition(b"\r\n\r\n")[2])["errors"][0]
    assert error["code"] == "DENIED" and "this push would add 50 GB" in error["message"], error


def test_a_chunk_or_last_chunk_over_the_limit_is_refused_and_a_counted_blob_is_not(registry: RunningRegistry) -> None:
    with api_client(registry.url) as client:
        location = start_upload(client, PROJECT)
        response = client.patch(location, content=b"x" * 6000, headers={"Content-Range": "0-5999"})
        assert response.status_code == 202
        error = assert_error(client.patch(location, content=b"y" * 5000, headers={"Content-Range": "6000-10999"}), 403, "DENIED")
        assert "this push would add 11 KB" in error["message"]
        data = b"z" * 11000
        response = client.put(location, params={"digest": digest_of(b"x" * 6000 + b"z" * 5000)}, content=b"z" * 5000)
        assert_error(response, 403, "DENIED")
        # a blob the project already counts adds nothing, even past the limit
        registry.set_size_limit(PROJECT, None)
        assert put_manifest(client, PROJECT, "v1", image(client, PROJECT, "a", [11000]), OCI_MANIFEST).status_code == 201
        registry.set_size_limit(PROJECT, 10000)
        data = (b"a0" * 11000)[:11000]
        other = start_upload(client, PROJECT)
        assert client.put(other, params={"digest": digest_of(data)}, content=data).status_code == 201


def test_two_pushes_racing_for_the_last_free_bytes_cannot_both_win(registry: RunningRegistry) -> None:
    with api_client(registry.url) as client:
        bodies = [image(client, f"{PROJECT}/{name}", name, [6000]) for name in ("p", "q")]  # each fits alone
    statuses: list[int] = []
    ready = threading.Barrier(2)

    def push(name: str, body: bytes) -> None:
        with api_client(registry.url) as own:
            ready.wait(timeout=30)
            statuses.append(put_manifest(own, f"{PROJECT}/{name}", "v1", body, OCI_MANIFEST).status_code)

    threads = [threading.Thread(target=push, args=(name, body)) for name, body in zip(("p", "q"), bodies, strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(statuses) == [201, 403]
    assert 6000 < used(registry) <= 10000


def test_crossing_ninety_percent_of_the_limit_is_logged_once(registry: RunningRegistry, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="tinyreg.usage")
    with api_client(registry.url) as client:
        for tag, size in (("v1", 4800), ("v2", 3600), ("v3", 50)):
            assert put_manifest(client, PROJECT, tag, image(client, PROJECT, tag, [size]), OCI_MANIFEST).status_code == 201
    warnings = [r.getMessage() for r in caplog.records if r.name == "tinyreg.usage"]
    assert len(warnings) == 1 and warnings[0].startswith("project team/app uses 9.") and "of its 10 KB size limit" in warnings[0]

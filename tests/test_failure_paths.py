"""Failure paths that must end cleanly: odd credentials, a final chunk cut short, overlapping
garbage collections, a one-shot upload refused before it starts."""

from __future__ import annotations

import base64
import fcntl
import os
import socket
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from tinyreg.registry.gc import CollectionRunning, collect
from tinyreg.storage.blobs import FileBlobStore
from tinyreg.testing import RunningRegistry

from tests.helpers import api_client, assert_error, digest_of, send_chunk, start_upload


def _cut_short_put(url: str, location: str, digest: str, sent: bytes, announced: int) -> None:
    """PUT a final chunk announcing `announced` bytes, send only `sent`, and hang up."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=5) as sock:
        head = (
            f"PUT {location}?digest={digest} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
            f"Content-Type: application/octet-stream\r\nContent-Length: {announced}\r\n\r\n"
        )
        sock.sendall(head.encode() + sent)
    time.sleep(0.3)  # let the server notice the disconnect before the next request


def test_a_final_chunk_cut_short_leaves_the_upload_as_it_was(tinyreg: RunningRegistry) -> None:
    data = b"0123456789ABCDEFGHIJ"
    with api_client(tinyreg.url) as client:
        location = send_chunk(client, start_upload(client, "cut/short"), data[:10], 0).headers["Location"]
        _cut_short_put(tinyreg.url, location, digest_of(data), b"XXXXX", announced=10)
        status = client.get(location)
        assert status.status_code == 204 and status.headers["Range"] == "0-9"
        finished = client.put(
            location, params={"digest": digest_of(data)}, content=data[10:], headers={"Content-Type": "application/octet-stream"}
        )
        assert finished.status_code == 201, finished.text
        assert client.get(f"/v2/cut/short/blobs/{digest_of(data)}").content == data


@pytest.mark.parametrize(
    "authorization",
    [
        "Basic " + base64.b64encode(b":some-password").decode(),  # empty user name
        "Basic " + base64.b64encode("jos\u00e9:pässwörd".encode()).decode(),  # not ASCII
        "Basic " + base64.b64encode(b"\xff\xfe:\xff").decode(),  # not UTF-8
        "Basic %%%not-base64%%%",
        "Basic " + base64.b64encode(b"x" * 600 + b":pw").decode(),  # longer than any key
    ],
)
@pytest.mark.tinyreg(auth=True)
def test_odd_basic_credentials_are_refused_not_crashed_on(tinyreg: RunningRegistry, authorization: str) -> None:
    for path in ("/v2/", "/token?scope=repository:team/app:pull"):
        response = httpx.get(tinyreg.url + path, headers={"Authorization": authorization})
        assert response.status_code == 401, (path, response.status_code, response.text)
        assert response.json()["errors"][0]["code"] == "UNAUTHORIZED"


def test_a_second_collection_waits_its_turn(tinyreg: RunningRegistry) -> None:
    store = FileBlobStore(tinyreg.data_dir)
    fd = os.open(tinyreg.data_dir / "gc.lock", os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # as if another `tinyreg gc` were running
        with pytest.raises(CollectionRunning):
            collect(tinyreg._registry.meta, store)
    finally:
        os.close(fd)
    assert collect(tinyreg._registry.meta, store).blobs == []


def test_a_one_shot_upload_with_a_bad_digest_leaves_no_session_behind(tinyreg: RunningRegistry) -> None:
    response = httpx.post(f"{tinyreg.url}/v2/team/app/blobs/uploads/", params={"digest": "sha256:nope"}, content=b"x")
    assert_error(response, 400, "DIGEST_INVALID")
    assert list(Path(tinyreg.data_dir, "uploads").iterdir()) == []


@pytest.mark.parametrize("method", ["HEAD", "GET"])
def test_a_linked_blob_whose_file_is_gone_is_unknown_not_an_error(tinyreg: RunningRegistry, method: str) -> None:
    digest = tinyreg.push_blob("team/app", b"bytes that a collection has set aside" * 3000)
    encoded = digest.split(":", 1)[1]
    (tinyreg.data_dir / "blobs" / "sha256" / encoded[:2] / encoded[2:4] / encoded).unlink()
    response = httpx.request(method, f"{tinyreg.url}/v2/team/app/blobs/{digest}")
    assert response.status_code == 404
    if method == "GET":
        assert_error(response, 404, "BLOB_UNKNOWN")

"""`/v2/<name>/blobs/<digest>`: partial reads, deletion, repository isolation and sha512 digests."""

from __future__ import annotations

import httpx
import pytest

from tests.helpers import assert_error, digest_of, make_blob, push_blob, start_upload, upload_in_chunks

REPO = "blobs/test"
SIZE = 100
BIG = 3 * 1024 * 1024 + 123  # past the registry's in-memory read size, so the bytes are streamed from the file


@pytest.fixture
def blob(api: httpx.Client) -> tuple[str, bytes]:
    """A 100-byte blob pushed to REPO: (digest, bytes)."""
    data = make_blob("ranges", SIZE)
    return push_blob(api, REPO, data), data


@pytest.mark.parametrize(
    ("header", "start", "end"),
    [
        ("bytes=0-9", 0, 9),
        ("bytes=10-19", 10, 19),
        ("bytes=99-99", 99, 99),
        ("bytes=95-500", 95, 99),
        ("bytes=90-", 90, 99),
        ("bytes=0-", 0, 99),
        ("bytes=-10", 90, 99),
        ("bytes=-1", 99, 99),
        ("bytes=-500", 0, 99),
    ],
)
def test_range_request_answers_206_with_content_range(
    api: httpx.Client, blob: tuple[str, bytes], header: str, start: int, end: int
) -> None:
    digest, data = blob
    response = api.get(f"/v2/{REPO}/blobs/{digest}", headers={"Range": header})
    assert response.status_code == 206, response.text
    assert response.headers["Content-Range"] == f"bytes {start}-{end}/{SIZE}"
    assert response.headers["Content-Length"] == str(end - start + 1)
    assert response.content == data[start : end + 1]


@pytest.mark.parametrize("header", ["bytes=100-", "bytes=100-200", "bytes=5000-5001", "bytes=-0"])
def test_unsatisfiable_range_is_416(api: httpx.Client, blob: tuple[str, bytes], header: str) -> None:
    digest, _ = blob
    response = api.get(f"/v2/{REPO}/blobs/{digest}", headers={"Range": header})
    assert_error(response, 416, "RANGE_INVALID")
    assert response.headers["Content-Range"] == f"bytes */{SIZE}"


def test_head_with_range_announces_the_part(api: httpx.Client, blob: tuple[str, bytes]) -> None:
    digest, _ = blob
    response = api.head(f"/v2/{REPO}/blobs/{digest}", headers={"Range": "bytes=10-29"})
    assert response.status_code == 206
    assert response.headers["Content-Range"] == f"bytes 10-29/{SIZE}"
    assert response.headers["Content-Length"] == "20"
    assert response.content == b""


def test_large_blob_is_served_whole_and_in_parts(api: httpx.Client) -> None:
    data = make_blob("large", BIG)
    digest = push_blob(api, REPO, data)
    whole = api.get(f"/v2/{REPO}/blobs/{digest}")
    assert whole.status_code == 200
    assert whole.headers["Content-Length"] == str(BIG)
    assert whole.content == data
    start, end = 1024 * 1024 - 7, 2 * 1024 * 1024 + 9
    part = api.get(f"/v2/{REPO}/blobs/{digest}", headers={"Range": f"bytes={start}-{end}"})
    assert part.status_code == 206
    assert part.headers["Content-Range"] == f"bytes {start}-{end}/{BIG}"
    assert part.content == data[start : end + 1]


def test_empty_blob_round_trips(api: httpx.Client) -> None:
    digest = push_blob(api, REPO, b"")
    response = api.get(f"/v2/{REPO}/blobs/{digest}")
    assert response.status_code == 200
    assert response.headers["Content-Length"] == "0"
    assert response.headers["Docker-Content-Digest"] == digest
    assert response.content == b""


def test_deleted_blob_is_404_blob_unknown(api: httpx.Client, blob: tuple[str, bytes]) -> None:
    digest, _ = blob
    response = api.delete(f"/v2/{REPO}/blobs/{digest}")
    assert response.status_code == 202
    assert_error(api.get(f"/v2/{REPO}/blobs/{digest}"), 404, "BLOB_UNKNOWN")
    assert api.head(f"/v2/{REPO}/blobs/{digest}").status_code == 404


def test_deleting_a_blob_in_one_repository_keeps_it_in_another(api: httpx.Client, blob: tuple[str, bytes]) -> None:
    digest, data = blob
    push_blob(api, "other/repo", data)
    assert api.delete(f"/v2/{REPO}/blobs/{digest}").status_code == 202
    assert api.get(f"/v2/other/repo/blobs/{digest}").content == data


@pytest.mark.parametrize("method", ["GET", "DELETE"])
def test_blob_of_another_repository_is_blob_unknown(api: httpx.Client, blob: tuple[str, bytes], method: str) -> None:
    digest, data = blob
    push_blob(api, "stranger/repo", b"the stranger's own blob")
    assert_error(api.request(method, f"/v2/stranger/repo/blobs/{digest}"), 404, "BLOB_UNKNOWN")
    assert api.head(f"/v2/stranger/repo/blobs/{digest}").status_code == 404
    assert api.get(f"/v2/{REPO}/blobs/{digest}").content == data


def test_mount_from_a_repository_without_the_blob_does_not_leak_it(api: httpx.Client, blob: tuple[str, bytes]) -> None:
    digest, _ = blob
    push_blob(api, "stranger/repo", b"the stranger's own blob")
    response = api.post("/v2/thief/repo/blobs/uploads/", params={"mount": digest, "from": "stranger/repo"})
    assert response.status_code == 202, response.text
    assert_error(api.get(f"/v2/thief/repo/blobs/{digest}"), 404, "BLOB_UNKNOWN")


def test_sha512_blob_pushed_in_one_post(api: httpx.Client) -> None:
    data = make_blob("sha512", 4000)
    digest = push_blob(api, REPO, data, algorithm="sha512")
    assert digest.startswith("sha512:")
    response = api.get(f"/v2/{REPO}/blobs/{digest}")
    assert response.status_code == 200
    assert response.headers["Docker-Content-Digest"] == digest
    assert response.content == data


def test_sha512_blob_pushed_in_chunks(api: httpx.Client) -> None:
    data = make_blob("sha512-chunks", 3000)
    location = upload_in_chunks(api, start_upload(api, REPO), data, 1500)
    response = api.put(location, params={"digest": digest_of(data, "sha512")})
    assert response.status_code == 201, response.text
    assert response.headers["Docker-Content-Digest"] == digest_of(data, "sha512")
    assert api.get(f"/v2/{REPO}/blobs/{digest_of(data, 'sha512')}").content == data


def test_sha512_upload_with_the_wrong_digest_is_digest_invalid(api: httpx.Client) -> None:
    wrong = digest_of(b"something else", "sha512")
    response = api.post(f"/v2/{REPO}/blobs/uploads/", params={"digest": wrong}, content=make_blob("x"))
    assert_error(response, 400, "DIGEST_INVALID")
    assert_error(api.get(f"/v2/{REPO}/blobs/{wrong}"), 404, "BLOB_UNKNOWN")


def test_same_bytes_under_sha256_and_sha512_are_two_blobs(api: httpx.Client) -> None:
    data = make_blob("both", 300)
    by256 = push_blob(api, REPO, data)
    by512 = push_blob(api, REPO, data, algorithm="sha512")
    for digest in (by256, by512):
        response = api.get(f"/v2/{REPO}/blobs/{digest}")
        assert response.headers["Docker-Content-Digest"] == digest
        assert response.content == data

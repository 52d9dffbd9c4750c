"""`/v2/<name>/blobs/uploads/`: sessions, streamed and chunked PATCH, PUT, status, cancel and mount."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest
from tinyreg.testing import RunningRegistry

from tests.helpers import (
    assert_error,
    digest_of,
    make_blob,
    push_blob,
    raw_request,
    send_chunk,
    start_upload,
    upload_in_chunks,
)

REPO = "uploads/test"
DATA = make_blob("upload", 3000)
DIGEST = digest_of(DATA)


def session_id(location: str) -> str:
    """The upload id at the end of an upload Location."""
    return httpx.URL(location).path.rsplit("/", 1)[1]


def continue_session(api: httpx.Client, method: str, location: str) -> httpx.Response:
    """Send `method` to a session holding DATA[:1000]: PATCH and PUT carry the rest of DATA."""
    if method in ("PATCH", "PUT"):
        return api.request(
            method,
            location,
            params={"digest": DIGEST} if method == "PUT" else None,
            content=DATA[1000:],
            headers={"Content-Range": f"1000-{len(DATA) - 1}"},
        )
    return api.request(method, location)


def test_post_opens_a_session(api: httpx.Client) -> None:
    response = api.post(f"/v2/{REPO}/blobs/uploads/")
    assert response.status_code == 202
    location = response.headers["Location"]
    assert httpx.URL(location).path.startswith(f"/v2/{REPO}/blobs/uploads/")
    assert response.headers["Range"] == "0-0"
    assert response.headers["Docker-Upload-UUID"] == session_id(location)
    assert response.headers["Content-Length"] == "0"


def test_each_post_opens_a_new_session(api: httpx.Client) -> None:
    assert session_id(start_upload(api, REPO)) != session_id(start_upload(api, REPO))


def test_single_post_with_the_wrong_digest_is_digest_invalid(api: httpx.Client) -> None:
    wrong = digest_of(b"not these bytes")
    assert_error(api.post(f"/v2/{REPO}/blobs/uploads/", params={"digest": wrong}, content=DATA), 400, "DIGEST_INVALID")
    assert_error(api.get(f"/v2/{REPO}/blobs/{wrong}"), 404, "BLOB_UNKNOWN")
    assert_error(api.get(f"/v2/{REPO}/blobs/{DIGEST}"), 404, "BLOB_UNKNOWN")


def test_streamed_patch_without_content_range(api: httpx.Client) -> None:
    location = start_upload(api, REPO)

    def body() -> Iterator[bytes]:
        for start in range(0, len(DATA), 700):
            yield DATA[start : start + 700]

    response = api.patch(location, content=body(), headers={"Content-Type": "application/octet-stream"})
    assert response.status_code == 202, response.text
    assert response.headers["Range"] == f"0-{len(DATA) - 1}"
    response = api.put(response.headers["Location"], params={"digest": DIGEST})
    assert response.status_code == 201, response.text
    assert api.get(f"/v2/{REPO}/blobs/{DIGEST}").content == DATA


@pytest.mark.parametrize("final_chunk", [False, True], ids=["without-final-chunk", "with-final-chunk"])
def test_put_finishes_a_chunked_upload(api: httpx.Client, final_chunk: bool) -> None:
    location = start_upload(api, REPO)
    head, tail = (DATA[:2000], DATA[2000:]) if final_chunk else (DATA, b"")
    location = upload_in_chunks(api, location, head, 1000)
    headers = {"Content-Type": "application/octet-stream"}
    if tail:
        headers["Content-Range"] = f"{len(head)}-{len(DATA) - 1}"
    response = api.put(location, params={"digest": DIGEST}, content=tail, headers=headers)
    assert response.status_code == 201, response.text
    assert httpx.URL(response.headers["Location"]).path == f"/v2/{REPO}/blobs/{DIGEST}"
    assert response.headers["Docker-Content-Digest"] == DIGEST
    assert api.get(response.headers["Location"]).content == DATA


@pytest.mark.parametrize("start", [0, 500, 1001, 5000], ids=["repeats", "overlaps", "skips-a-byte", "far-ahead"])
def test_out_of_order_chunk_is_416_range_invalid(api: httpx.Client, start: int) -> None:
    location = upload_in_chunks(api, start_upload(api, REPO), DATA[:1000], 1000)
    assert_error(send_chunk(api, location, b"x" * 100, start), 416, "RANGE_INVALID")
    status = api.get(location)
    assert status.status_code == 204
    assert status.headers["Range"] == "0-999"
    response = send_chunk(api, location, DATA[1000:], 1000)
    assert response.status_code == 202, response.text
    assert api.put(response.headers["Location"], params={"digest": DIGEST}).status_code == 201


def test_put_with_the_wrong_digest_is_digest_invalid(api: httpx.Client) -> None:
    location = upload_in_chunks(api, start_upload(api, REPO), DATA, 1000)
    wrong = digest_of(b"something else")
    assert_error(api.put(location, params={"digest": wrong}), 400, "DIGEST_INVALID")
    assert_error(api.get(f"/v2/{REPO}/blobs/{wrong}"), 404, "BLOB_UNKNOWN")
    assert_error(api.get(f"/v2/{REPO}/blobs/{DIGEST}"), 404, "BLOB_UNKNOWN")


@pytest.mark.parametrize(
    "params",
    [{}, {"digest": ""}, {"digest": "sha256:abc"}, {"digest": "nonsense"}],
    ids=["no-digest", "empty", "short", "not-a-digest"],
)
def test_put_without_a_valid_digest_is_digest_invalid(api: httpx.Client, params: dict[str, str]) -> None:
    location = upload_in_chunks(api, start_upload(api, REPO), DATA, 1000)
    assert_error(api.put(location, params=params), 400, "DIGEST_INVALID")


def test_get_reports_the_progress_of_a_session(api: httpx.Client) -> None:
    location = upload_in_chunks(api, start_upload(api, REPO), DATA[:1234], 1234)
    response = api.get(location)
    assert response.status_code == 204
    assert response.headers["Range"] == "0-1233"
    assert response.headers["Docker-Upload-UUID"] == session_id(location)
    assert session_id(response.headers["Location"]) == session_id(location)


def test_a_fresh_session_reports_range_0_0(api: httpx.Client) -> None:
    response = api.get(start_upload(api, REPO))
    assert response.status_code == 204
    assert response.headers["Range"] == "0-0"


@pytest.mark.parametrize("method", ["GET", "PATCH", "PUT", "DELETE"])
def test_cancelled_session_is_blob_upload_unknown(api: httpx.Client, method: str) -> None:
    location = upload_in_chunks(api, start_upload(api, REPO), DATA[:1000], 1000)
    assert api.delete(location).status_code == 204
    assert_error(continue_session(api, method, location), 404, "BLOB_UPLOAD_UNKNOWN")


def test_finished_session_is_gone(api: httpx.Client) -> None:
    location = upload_in_chunks(api, start_upload(api, REPO), DATA, 3000)
    assert api.put(location, params={"digest": DIGEST}).status_code == 201
    assert_error(api.get(location), 404, "BLOB_UPLOAD_UNKNOWN")
    assert_error(send_chunk(api, location, b"more", len(DATA)), 404, "BLOB_UPLOAD_UNKNOWN")


GARBAGE_IDS = [
    uuid.uuid4().hex,
    str(uuid.uuid4()),
    uuid.uuid4().hex.upper(),
    uuid.uuid4().hex + "0",
    "not-an-upload",
    "..",
    "%2e%2e",
    "..%2F..%2Fetc",
    "..%2F..%2F..%2F..%2Fetc%2Fpasswd",
]


@pytest.mark.parametrize("method", ["GET", "PATCH", "PUT", "DELETE"])
@pytest.mark.parametrize("upload_id", GARBAGE_IDS)
def test_unknown_upload_id_is_blob_upload_unknown(tinyreg: RunningRegistry, method: str, upload_id: str) -> None:
    query = f"?digest={DIGEST}" if method == "PUT" else ""
    response = raw_request(
        tinyreg.url, method, f"/v2/{REPO}/blobs/uploads/{upload_id}{query}", body=DATA if method in ("PATCH", "PUT") else None
    )
    assert_error(response, 404, "BLOB_UPLOAD_UNKNOWN")


@pytest.mark.parametrize("method", ["GET", "PATCH", "PUT", "DELETE"])
def test_session_of_one_repository_is_unknown_to_another(api: httpx.Client, method: str) -> None:
    location = upload_in_chunks(api, start_upload(api, "team/a"), DATA[:1000], 1000)
    stolen = f"/v2/team/b/blobs/uploads/{session_id(location)}"
    assert_error(continue_session(api, method, stolen), 404, "BLOB_UPLOAD_UNKNOWN")
    assert_error(api.get(f"/v2/team/b/blobs/{DIGEST}"), 404, "BLOB_UNKNOWN")
    assert api.get(location).headers["Range"] == "0-999"
    response = send_chunk(api, location, DATA[1000:], 1000)
    assert api.put(response.headers["Location"], params={"digest": DIGEST}).status_code == 201


def test_mount_of_a_linked_blob_answers_201(api: httpx.Client) -> None:
    push_blob(api, "team/source", DATA)
    response = api.post(f"/v2/{REPO}/blobs/uploads/", params={"mount": DIGEST, "from": "team/source"})
    assert response.status_code == 201, response.text
    assert httpx.URL(response.headers["Location"]).path == f"/v2/{REPO}/blobs/{DIGEST}"
    assert response.headers["Docker-Content-Digest"] == DIGEST
    assert api.get(f"/v2/{REPO}/blobs/{DIGEST}").content == DATA
    assert api.get(f"/v2/team/source/blobs/{DIGEST}").content == DATA


@pytest.mark.parametrize("source", ["team/empty", "never/pushed", "Invalid/Name"])
def test_mount_of_a_blob_not_in_the_source_opens_a_session(api: httpx.Client, source: str) -> None:
    push_blob(api, "team/empty", b"another blob")
    response = api.post(f"/v2/{REPO}/blobs/uploads/", params={"mount": DIGEST, "from": source})
    assert response.status_code == 202, response.text
    assert response.headers["Docker-Upload-UUID"] == session_id(response.headers["Location"])
    location = upload_in_chunks(api, response.headers["Location"], DATA, 3000)
    assert api.put(location, params={"digest": DIGEST}).status_code == 201
    assert api.get(f"/v2/{REPO}/blobs/{DIGEST}").content == DATA

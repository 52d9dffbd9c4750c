"""The core of the API tests: registry error checks, digests, the checked HTTP client, blob uploads."""

from __future__ import annotations

import hashlib
import http.client
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from tinyreg.registry.errors import ERROR_CODES, RegistryError

API_VERSION = "registry/2.0"


@contextmanager
def raises_registry_error(code: str, status: int | None = None) -> Iterator[pytest.ExceptionInfo[RegistryError]]:
    """Expect the block to raise `RegistryError` with `code` and the code's status (or `status`)."""
    with pytest.raises(RegistryError) as info:
        yield info
    assert info.value.code == code, f"expected {code}, got {info.value.code}: {info.value.message}"
    assert info.value.status == (status if status is not None else ERROR_CODES[code][0])


def make_blob(seed: str, size: int = 64) -> bytes:
    """`size` deterministic pseudo-random bytes, different for every `seed`."""
    out = bytearray()
    counter = 0
    while len(out) < size:
        out += hashlib.sha256(f"{seed}:{counter}".encode()).digest()
        counter += 1
    return bytes(out[:size])


def digest_of(data: bytes, algorithm: str = "sha256") -> str:
    """`<algorithm>:<hex>` of `data`."""
    return f"{algorithm}:{hashlib.new(algorithm, data).hexdigest()}"


def check_api_version(response: httpx.Response) -> None:
    """Every `/v2/` response carries `Docker-Distribution-API-Version: registry/2.0`."""
    found = response.headers.get("Docker-Distribution-API-Version")
    assert found == API_VERSION, (
        f"{response.request.method} {response.request.url.raw_path.decode()} -> {response.status_code} "
        f"has Docker-Distribution-API-Version {found!r}"
    )


def api_client(url: str) -> httpx.Client:
    """An HTTP client for the registry at `url` that checks the API version header of every response."""
    return httpx.Client(base_url=url, timeout=60, event_hooks={"response": [check_api_version]})


def raw_request(
    url: str, method: str, path: str, *, body: bytes | None = None, headers: dict[str, str] | None = None
) -> httpx.Response:
    """Send `path` byte for byte (no `..` clean-up, as httpx would do) and return the response."""
    address = httpx.URL(url)
    connection = http.client.HTTPConnection(address.host, address.port, timeout=60)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        answer = connection.getresponse()
        response = httpx.Response(
            answer.status,
            headers=answer.getheaders(),
            content=answer.read(),
            request=httpx.Request(method, f"{url}{path}"),
        )
    finally:
        connection.close()
    check_api_version(response)
    return response


def assert_error(response: httpx.Response, status: int, *codes: str) -> dict[str, Any]:
    """Assert `response` is the spec's error: `status`, body `{"errors": [{"code", "message", ...}]}`
    with one of `codes` (any code when none is given); return that error."""
    assert response.status_code == status, f"expected {status}, got {response.status_code}: {response.text[:500]}"
    assert response.headers.get("Content-Type", "").startswith("application/json"), response.headers
    body = response.json()
    assert isinstance(body, dict) and isinstance(body.get("errors"), list) and body["errors"], body
    for error in body["errors"]:
        assert re.fullmatch(r"[A-Z_]+", error.get("code", "")), error
        assert isinstance(error.get("message", ""), str), error
    found = [error for error in body["errors"] if not codes or error["code"] in codes]
    assert found, f"expected one of {codes}, got {[e['code'] for e in body['errors']]}"
    return found[0]


def push_blob(client: httpx.Client, repo: str, data: bytes, algorithm: str = "sha256") -> str:
    """Upload `data` to `repo` in one POST (`?digest=`); return its digest."""
    digest = digest_of(data, algorithm)
    response = client.post(
        f"/v2/{repo}/blobs/uploads/",
        params={"digest": digest},
        content=data,
        headers={"Content-Type": "application/octet-stream"},
    )
    assert response.status_code == 201, response.text
    return digest


def start_upload(client: httpx.Client, repo: str) -> str:
    """Open an upload session in `repo`; return its Location."""
    response = client.post(f"/v2/{repo}/blobs/uploads/")
    assert response.status_code == 202, response.text
    return response.headers["Location"]


def send_chunk(client: httpx.Client, location: str, data: bytes, start: int) -> httpx.Response:
    """PATCH one chunk with `Content-Range: <start>-<end>`."""
    return client.patch(
        location,
        content=data,
        headers={
            "Content-Type": "application/octet-stream",
            "Content-Range": f"{start}-{start + len(data) - 1}",
        },
    )


def upload_in_chunks(client: httpx.Client, location: str, data: bytes, size: int) -> str:
    """PATCH `data` in chunks of `size` bytes, checking `Range: 0-<end>` after each; return the last Location."""
    for start in range(0, len(data), size):
        response = send_chunk(client, location, data[start : start + size], start)
        assert response.status_code == 202, response.text
        assert response.headers["Range"] == f"0-{min(start + size, len(data)) - 1}"
        location = response.headers["Location"]
    return location


def require_tool(condition: bool, what: str, *, kind: str, install: str) -> None:
    """Fail (on CI, `CI=true`) or skip loudly (elsewhere) a test whose outside tool is unavailable."""
    if condition:
        return
    message = f"{kind} UNAVAILABLE, TEST NOT RUN: {what} (install: {install})"
    if os.environ.get("CI") == "true":
        pytest.fail(message, pytrace=False)
    pytest.skip(message)

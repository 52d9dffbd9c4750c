"""HTTP building blocks of the benchmark: generated blob bodies, one keep-alive connection, and
the registry operations it times, each checking every answer it gets.

Bodies are generated chunk by chunk from a seed, so a 512 MiB blob is never held in memory; its
digest is computed once, before any timing.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import urlencode, urlsplit

KiB = 1024
MiB = 1024 * KiB
CHUNK = 1 * MiB
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
MANIFEST_ACCEPT = f"{OCI_MANIFEST}, application/vnd.oci.image.index.v1+json"
HEAD = 48
_TAIL = memoryview(os.urandom(CHUNK - HEAD))


class WrongAnswer(AssertionError):
    """A server answered a benchmark request wrongly; the run stops instead of scoring it."""


def expect(condition: bool, message: str) -> None:
    """Raise `WrongAnswer(message)` unless `condition` holds."""
    if not condition:
        raise WrongAnswer(message)


def sha256(data: bytes) -> str:
    """`sha256:<hex>` of `data`."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass
class Body:
    """`size` deterministic bytes named by `seed`, produced in chunks of at most 1 MiB."""

    seed: str
    size: int
    _digest: str | None = field(default=None, repr=False)

    def chunks(self, start: int = 0, end: int | None = None) -> Iterator[bytes | memoryview]:
        """The bytes `[start, end)` in pieces; each 1 MiB block starts with its seed and index."""
        end = self.size if end is None else end
        position = start
        while position < end:
            block, offset = divmod(position, CHUNK)
            stop = min(CHUNK, offset + end - position)
            head = f"{self.seed}:{block}:".encode().ljust(HEAD, b".")
            if offset < HEAD:
                yield head[offset : min(HEAD, stop)]
            if stop > HEAD:
                yield _TAIL[max(offset, HEAD) - HEAD : stop - HEAD]
            position += stop - offset

    def payload(self, start: int = 0, end: int | None = None) -> bytes | Iterator[bytes | memoryview]:
        """What to send for `[start, end)`: one bytes object when small, else a stream of pieces."""
        end = self.size if end is None else end
        pieces = self.chunks(start, end)
        return b"".join(pieces) if end - start <= 64 * KiB else pieces

    @property
    def digest(self) -> str:
        """The sha256 digest of the whole body (computed once)."""
        if self._digest is None:
            hasher = hashlib.sha256()
            for piece in self.chunks():
                hasher.update(piece)
            self._digest = "sha256:" + hasher.hexdigest()
        return self._digest


@dataclass
class Reply:
    """Status, headers (lower-case names) and body of one response."""

    status: int
    headers: dict[str, str]
    body: bytes

    def header(self, name: str) -> str:
        return self.headers.get(name.lower(), "")


class Connection:
    """One keep-alive HTTP/1.1 connection to a server; reconnects when the server closed it."""

    def __init__(self, host: str, port: int, label: str, timeout: float = 120) -> None:
        self.host, self.port, self.label, self.timeout = host, port, label, timeout
        self._conn = http.client.HTTPConnection(host, port, timeout=timeout)
        self._buffer = bytearray(CHUNK)

    def close(self) -> None:
        self._conn.close()

    def _send(self, method: str, path: str, body: object, headers: dict[str, str]) -> http.client.HTTPResponse:
        try:
            self._conn.request(method, path, body=body, headers=headers)  # type: ignore[arg-type]
            return self._conn.getresponse()
        except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
            self._conn.close()
            if body is not None and not isinstance(body, bytes):
                raise
            self._conn.request(method, path, body=body, headers=headers)  # type: ignore[arg-type]
            return self._conn.getresponse()

    def request(
        self,
        method: str,
        path: str,
        body: bytes | Iterator[bytes | memoryview] | None = None,
        headers: dict[str, str] | None = None,
        length: int | None = None,
    ) -> Reply:
        """Send a request (an iterator body is streamed with `length` as Content-Length); read the reply."""
        sent = dict(headers or {})
        if body is not None:
            sent["Content-Length"] = str(len(body) if isinstance(body, bytes) else length)
        elif method in ("PUT", "POST", "PATCH"):
            sent["Content-Length"] = "0"
        response = self._send(method, path, body, sent)
        data = response.read()
        return Reply(response.status, {k.lower(): v for k, v in response.getheaders()}, data)

    def get_hashed(self, path: str, headers: dict[str, str] | None = None) -> tuple[Reply, int, str]:
        """GET `path`, hashing the body as it arrives; return the reply (without body), size and digest."""
        response = self._send("GET", path, None, dict(headers or {}))
        view, hasher, size = memoryview(self._buffer), hashlib.sha256(), 0
        while True:
            count = response.readinto(self._buffer)
            if not count:
                break
            hasher.update(view[:count])
            size += count
        return Reply(response.status, {k.lower(): v for k, v in response.getheaders()}, b""), size, "sha256:" + hasher.hexdigest()

    def where(self, reply: Reply, what: str) -> str:
        """The path and query of the reply's Location header (absolute or relative)."""
        location = reply.header("location")
        expect(bool(location), f"{self.label}: {what} answered {reply.status} without a Location header")
        parts = urlsplit(location)
        return parts.path + (f"?{parts.query}" if parts.query else "")


def add_query(path: str, **params: str) -> str:
    """`path` with `params` appended to its query string."""
    return path + ("&" if "?" in path else "?") + urlencode(params)


def _check(conn: Connection, reply: Reply, status: int, what: str) -> None:
    expect(reply.status == status, f"{conn.label}: {what} answered {reply.status}, expected {status}: {reply.body[:300]!r}")


def start_upload(conn: Connection, repo: str) -> str:
    """POST an upload session; return its location."""
    reply = conn.request("POST", f"/v2/{repo}/blobs/uploads/")
    _check(conn, reply, 202, f"POST upload in {repo}")
    return conn.where(reply, "POST upload")


def _check_created(conn: Connection, reply: Reply, body: Body, what: str) -> None:
    _check(conn, reply, 201, what)
    got = reply.header("docker-content-digest")
    expect(got in ("", body.digest), f"{conn.label}: {what} reported digest {got}, expected {body.digest}")


def push_portable(conn: Connection, repo: str, body: Body) -> None:
    """Monolithic push for every registry: POST a session, then PUT `?digest=` with the whole body."""
    location = start_upload(conn, repo)
    reply = conn.request(
        "PUT",
        add_query(location, digest=body.digest),
        body.payload(),
        length=body.size,
        headers={"Content-Type": "application/octet-stream"},
    )
    _check_created(conn, reply, body, f"PUT {body.size} bytes to {repo}")


def push_single(conn: Connection, repo: str, body: Body) -> Reply:
    """Single-request push: POST `?digest=` with the body. Returns the reply (201 when supported)."""
    return conn.request(
        "POST",
        f"/v2/{repo}/blobs/uploads/?{urlencode({'digest': body.digest})}",
        body.payload(),
        length=body.size,
        headers={"Content-Type": "application/octet-stream"},
    )


def supports_single_post(conn: Connection, repo: str, body: Body) -> bool:
    """Whether a single POST with `?digest=` stores the blob (201 and HEAD 200); a 202 means no."""
    reply = push_single(conn, repo, body)
    if reply.status == 202:
        conn.request("DELETE", conn.where(reply, "POST upload"))
        return False
    _check_created(conn, reply, body, f"single POST to {repo}")
    check_blob(conn, repo, body)
    return True


def push_single_checked(conn: Connection, repo: str, body: Body) -> None:
    """Single-request push that must answer 201 with the right digest."""
    _check_created(conn, push_single(conn, repo, body), body, f"single POST of {body.size} bytes to {repo}")


def push_chunked(conn: Connection, repo: str, body: Body, chunk: int) -> None:
    """POST, then PATCH `chunk` bytes at a time (each answering 202 with the right Range), then PUT."""
    location = start_upload(conn, repo)
    for start in range(0, body.size, chunk):
        end = min(start + chunk, body.size)
        reply = conn.request(
            "PATCH",
            location,
            body.payload(start, end),
            length=end - start,
            headers={"Content-Type": "application/octet-stream", "Content-Range": f"{start}-{end - 1}"},
        )
        _check(conn, reply, 202, f"PATCH {start}-{end - 1} in {repo}")
        expect(
            reply.header("range") == f"0-{end - 1}",
            f"{conn.label}: PATCH {start}-{end - 1} answered Range {reply.header('range')!r}, expected 0-{end - 1}",
        )
        location = conn.where(reply, "PATCH")
    _check_created(conn, conn.request("PUT", add_query(location, digest=body.digest)), body, f"closing PUT in {repo}")


def check_blob(conn: Connection, repo: str, body: Body) -> None:
    """HEAD the blob: 200 with its size."""
    reply = conn.request("HEAD", f"/v2/{repo}/blobs/{body.digest}")
    _check(conn, reply, 200, f"HEAD blob {body.digest} in {repo}")
    expect(
        reply.header("content-length") == str(body.size),
        f"{conn.label}: HEAD blob {body.digest} has Content-Length {reply.header('content-length')}, expected {body.size}",
    )


def pull_blob(conn: Connection, repo: str, body: Body) -> None:
    """GET the blob, hashing it as it arrives; its size and digest must match."""
    reply, size, digest = conn.get_hashed(f"/v2/{repo}/blobs/{body.digest}")
    _check(conn, reply, 200, f"GET blob {body.digest} in {repo}")
    expect(
        size == body.size and digest == body.digest,
        f"{conn.label}: GET blob {body.digest} in {repo} gave {size} bytes with digest {digest}",
    )


def mount_blob(conn: Connection, repo: str, source: str, body: Body) -> None:
    """Cross-repository mount; must answer 201 (the blob exists in `source`)."""
    reply = conn.request("POST", f"/v2/{repo}/blobs/uploads/?{urlencode({'mount': body.digest, 'from': source})}")
    _check_created(conn, reply, body, f"mount {body.digest} from {source} into {repo}")


@dataclass(frozen=True)
class Image:
    """The two blobs a bench manifest references."""

    config: Body
    layer: Body

    def manifest(self, note: str) -> bytes:
        """An OCI image manifest of the two blobs, made distinct by the annotation `note`."""
        return json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "config": {"mediaType": OCI_CONFIG, "digest": self.config.digest, "size": self.config.size},
                "layers": [{"mediaType": OCI_LAYER, "digest": self.layer.digest, "size": self.layer.size}],
                "annotations": {"org.example.bench": note},
            },
            separators=(",", ":"),
        ).encode()


def push_image_blobs(conn: Connection, repo: str, image: Image) -> None:
    """Push (and check) the blobs of `image` into `repo`."""
    for blob in (image.config, image.layer):
        push_portable(conn, repo, blob)
        check_blob(conn, repo, blob)


def put_manifest(conn: Connection, repo: str, reference: str, data: bytes) -> str:
    """PUT a manifest; must answer 201 with its digest. Returns the digest."""
    reply = conn.request("PUT", f"/v2/{repo}/manifests/{reference}", data, headers={"Content-Type": OCI_MANIFEST})
    _check(conn, reply, 201, f"PUT manifest {repo}:{reference}")
    digest = sha256(data)
    got = reply.header("docker-content-digest")
    expect(got == digest, f"{conn.label}: PUT manifest {repo}:{reference} reported digest {got!r}, expected {digest}")
    return digest


def check_manifest(conn: Connection, repo: str, reference: str, data: bytes) -> None:
    """GET the manifest: 200, OCI media type, the same bytes."""
    reply = conn.request("GET", f"/v2/{repo}/manifests/{reference}", headers={"Accept": MANIFEST_ACCEPT})
    _check(conn, reply, 200, f"GET manifest {repo}:{reference}")
    expect(reply.body == data, f"{conn.label}: GET manifest {repo}:{reference} returned other bytes: {reply.body[:200]!r}")
    expect(
        reply.header("content-type").split(";")[0] == OCI_MANIFEST,
        f"{conn.label}: GET manifest {repo}:{reference} has Content-Type {reply.header('content-type')!r}",
    )


def get_json(conn: Connection, path: str) -> object:
    """GET a JSON document that must answer 200."""
    reply = conn.request("GET", path)
    _check(conn, reply, 200, f"GET {path}")
    return json.loads(reply.body)

"""Helpers shared by the test modules."""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tinyreg.registry.errors import ERROR_CODES, RegistryError


@contextmanager
def raises_registry_error(code: str, status: int | None = None) -> Iterator[pytest.ExceptionInfo[RegistryError]]:
    """Expect the block to raise `RegistryError` with `code` and the code's status (or `status`)."""
    with pytest.raises(RegistryError) as info:
        yield info
    assert info.value.code == code, f"expected {code}, got {info.value.code}: {info.value.message}"
    assert info.value.status == (status if status is not None else ERROR_CODES[code][0])


# -- tinyreg serve as a subprocess ------------------------------------------------------------

LISTENING = re.compile(r"listening on (http://(\S+?):(\d+))(?:\s|$)")
ACCESS_LINE = re.compile(r'"(?P<method>[A-Z]+) (?P<path>\S+)" (?P<status>\d{3}) (?P<bytes>\d+) (?P<ms>\d+(?:\.\d+)?)ms')


def tinyreg_command(*args: str) -> list[str]:
    """`python -m tinyreg ARGS` with the interpreter running the tests."""
    return [sys.executable, "-m", "tinyreg", *args]


def clean_env(**variables: str) -> dict[str, str]:
    """The test environment without any `TINYREG_*` variable, plus `variables`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TINYREG_")}
    env.update(variables)
    return env


def free_port(host: str = "127.0.0.1") -> int:
    """A port that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


class ServerProcess:
    """A `tinyreg` subprocess; reader threads collect its stdout and stderr lines as they come."""

    def __init__(self, args: list[str], *, cwd: Path, env: dict[str, str] | None = None) -> None:
        self.process = subprocess.Popen(
            tinyreg_command(*args), cwd=cwd, env=env if env is not None else clean_env(),
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        self.lines: dict[str, list[str]] = {"stdout": [], "stderr": []}
        self._changed = threading.Condition()
        self._readers = [
            threading.Thread(target=self._collect, args=(name, pipe), daemon=True)
            for name, pipe in (("stdout", self.process.stdout), ("stderr", self.process.stderr))
        ]
        for reader in self._readers:
            reader.start()

    @property
    def pid(self) -> int:
        return self.process.pid

    def _collect(self, name: str, pipe: object) -> None:
        for line in pipe:  # type: ignore[attr-defined]
            with self._changed:
                self.lines[name].append(line.rstrip("\n"))
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    def text(self, stream: str) -> str:
        """Everything read so far from `stream` ("stdout" or "stderr")."""
        with self._changed:
            return "\n".join(self.lines[stream])

    def wait_for(self, pattern: re.Pattern[str], stream: str = "stdout", timeout: float = 30) -> re.Match[str]:
        """The first line of `stream` matching `pattern`; fails after `timeout` seconds or at exit."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for line in self.lines[stream]:
                    if found := pattern.search(line):
                        return found
                remaining = deadline - time.monotonic()
                exited = self.process.poll() is not None and not any(r.is_alive() for r in self._readers)
                if remaining <= 0 or exited:
                    raise AssertionError(
                        f"no line matching {pattern.pattern!r} on {stream} "
                        f"(exit code {self.process.poll()}):\n{self.text('stdout')}\n{self.text('stderr')}"
                    )
                self._changed.wait(min(remaining, 0.2))

    def wait_listening(self, timeout: float = 30) -> str:
        """The base URL the server prints once it listens."""
        return self.wait_for(LISTENING, timeout=timeout).group(1)

    def wait_exit(self, timeout: float = 30) -> int:
        """The exit code, once the process and both readers are done."""
        code = self.process.wait(timeout=timeout)
        for reader in self._readers:
            reader.join(timeout=timeout)
        return code

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        """Send `sig` and return the exit code."""
        self.process.send_signal(sig)
        return self.wait_exit(timeout)

    def kill(self) -> None:
        """SIGKILL the process (if still running) and wait for it."""
        if self.process.poll() is None:
            self.process.kill()
        self.wait_exit()

    def __enter__(self) -> "ServerProcess":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.kill()


def memory_kib(pid: int) -> dict[str, int]:
    """The `Vm*` lines of `/proc/<pid>/status`, in KiB."""
    values = {}
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            key, _, rest = line.partition(":")
            if key.startswith("Vm") and rest.strip().endswith("kB"):
                values[key] = int(rest.split()[0])
    return values


# -- the /v2/ API over HTTP: checked requests and content builders --------------------------

API_VERSION = "registry/2.0"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"
OCI_EMPTY_BLOB = b"{}"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
DOCKER_V1_SIGNED = "application/vnd.docker.distribution.manifest.v1+prettyjws"


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
        f"/v2/{repo}/blobs/uploads/", params={"digest": digest}, content=data,
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
    return client.patch(location, content=data, headers={
        "Content-Type": "application/octet-stream",
        "Content-Range": f"{start}-{start + len(data) - 1}",
    })


def upload_in_chunks(client: httpx.Client, location: str, data: bytes, size: int) -> str:
    """PATCH `data` in chunks of `size` bytes, checking `Range: 0-<end>` after each; return the last Location."""
    for start in range(0, len(data), size):
        response = send_chunk(client, location, data[start : start + size], start)
        assert response.status_code == 202, response.text
        assert response.headers["Range"] == f"0-{min(start + size, len(data)) - 1}"
        location = response.headers["Location"]
    return location


def encode(document: dict[str, Any]) -> bytes:
    """JSON with deliberately non-canonical layout, so byte-exact storage is visible."""
    return json.dumps(document, indent=3).encode() + b"\n"


def descriptor(media_type: str, data: bytes, **fields: Any) -> dict[str, Any]:
    """The OCI descriptor of `data`."""
    return {"mediaType": media_type, "digest": digest_of(data), "size": len(data), **fields}


@dataclass(frozen=True)
class Pushed:
    """A manifest as pushed: its media type, exact bytes and digest."""

    media_type: str
    body: bytes
    digest: str

    def descriptor(self, **fields: Any) -> dict[str, Any]:
        """The descriptor that points to this manifest."""
        return {"mediaType": self.media_type, "digest": self.digest, "size": len(self.body), **fields}


def put_manifest(
    client: httpx.Client, repo: str, reference: str, document: dict[str, Any] | bytes, media_type: str
) -> httpx.Response:
    """PUT a manifest (a document, or exact bytes) with `media_type` as its Content-Type."""
    body = document if isinstance(document, bytes) else encode(document)
    return client.put(f"/v2/{repo}/manifests/{reference}", content=body, headers={"Content-Type": media_type})


def push_manifest(
    client: httpx.Client, repo: str, reference: str, document: dict[str, Any] | bytes, media_type: str
) -> Pushed:
    """PUT a manifest that must be accepted (201 with its digest); return what was pushed."""
    body = document if isinstance(document, bytes) else encode(document)
    response = put_manifest(client, repo, reference, body, media_type)
    assert response.status_code == 201, response.text
    assert response.headers["Docker-Content-Digest"] == digest_of(body)
    return Pushed(media_type, body, digest_of(body))


def image_manifest(
    client: httpx.Client, repo: str, *, seed: str = "image", layers: int = 1, media_type: str = OCI_MANIFEST,
    **fields: Any,
) -> dict[str, Any]:
    """Push a config and `layers` layer blobs to `repo`; return an image manifest over them."""
    config_type, layer_type = (DOCKER_CONFIG, DOCKER_LAYER) if media_type == DOCKER_MANIFEST else (OCI_CONFIG, OCI_LAYER)
    config = json.dumps({"architecture": "amd64", "os": "linux", "seed": seed}).encode()
    push_blob(client, repo, config)
    blobs = [make_blob(f"{seed}/layer{i}", 200 + i) for i in range(layers)]
    for blob in blobs:
        push_blob(client, repo, blob)
    return {
        "schemaVersion": 2,
        "mediaType": media_type,
        "config": descriptor(config_type, config),
        "layers": [descriptor(layer_type, blob) for blob in blobs],
        **fields,
    }


def push_image(
    client: httpx.Client, repo: str, reference: str, *, seed: str = "image", media_type: str = OCI_MANIFEST,
    **fields: Any,
) -> Pushed:
    """Push an image (config, one layer, manifest) to `repo` under `reference`."""
    document = image_manifest(client, repo, seed=seed, media_type=media_type, **fields)
    return push_manifest(client, repo, reference, document, media_type)


def artifact_manifest(
    client: httpx.Client, repo: str, artifact_type: str, *, seed: str = "artifact",
    subject: Pushed | None = None, annotations: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Push the empty config and one blob to `repo`; return an artifact manifest over them."""
    push_blob(client, repo, OCI_EMPTY_BLOB)
    blob = make_blob(seed, 100)
    push_blob(client, repo, blob)
    document: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": artifact_type,
        "config": descriptor(OCI_EMPTY, OCI_EMPTY_BLOB),
        "layers": [descriptor("application/octet-stream", blob)],
    }
    if subject is not None:
        document["subject"] = subject.descriptor()
    if annotations is not None:
        document["annotations"] = annotations
    return document


def index_manifest(children: list[Pushed], media_type: str = OCI_INDEX, **fields: Any) -> dict[str, Any]:
    """An image index (or Docker manifest list) of already pushed `children`."""
    platform = {"architecture": "amd64", "os": "linux"}
    return {
        "schemaVersion": 2,
        "mediaType": media_type,
        "manifests": [child.descriptor(platform=platform) for child in children],
        **fields,
    }


# -- generated content: large, deterministic, never all in memory ----------------------------

MiB = 1024 * 1024


def random_chunks(seed: int, size: int, chunk: int = 16 * MiB) -> Iterator[bytes]:
    """`size` pseudo-random bytes determined by `seed`, as chunks of at most `chunk` bytes.

    Any `chunk` that is a multiple of 4 yields the same bytes.
    """
    source = random.Random(seed)
    remaining = size
    while remaining > 0:
        piece = source.randbytes(min(chunk, remaining))
        remaining -= len(piece)
        yield piece


def random_bytes(seed: int, size: int) -> bytes:
    """`size` pseudo-random bytes determined by `seed` (the concatenation of `random_chunks`)."""
    return b"".join(random_chunks(seed, size))


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 30, interval: float = 0.05) -> None:
    """Poll `condition` until it holds; fail with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"still not {what} after {timeout} s")
        time.sleep(interval)


# -- the access model: credentials, tokens and the admin command line -----------------------

def basic_auth(user: str, password: str) -> dict[str, str]:
    """An `Authorization: Basic` header."""
    import base64

    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def bearer_auth(token: str) -> dict[str, str]:
    """An `Authorization: Bearer` header."""
    return {"Authorization": f"Bearer {token}"}


def challenge_params(response: httpx.Response) -> dict[str, str]:
    """The parameters of a `WWW-Authenticate: Bearer k="v",...` challenge (fails if there is none)."""
    header = response.headers.get("WWW-Authenticate", "")
    assert header.startswith("Bearer "), f"no Bearer challenge in {response.status_code} {dict(response.headers)}"
    return dict(re.findall(r'(\w+)="([^"]*)"', header))


def jwt_sections(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The decoded (header, claims) of a JWT, unverified."""
    import base64

    def decode(text: str) -> dict[str, Any]:
        return json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))

    header, claims, _ = token.split(".")
    return decode(header), decode(claims)


def get_token(url: str, scopes: list[str], headers: dict[str, str] | None = None, **params: str) -> httpx.Response:
    """`GET /token?service=tinyreg&scope=...` (one `scope` parameter per entry)."""
    query = [("service", "tinyreg"), *(("scope", scope) for scope in scopes), *params.items()]
    return httpx.get(f"{url}/token", params=query, headers=headers or {}, timeout=60)


def token_for(url: str, scopes: list[str], headers: dict[str, str] | None = None) -> str:
    """A registry token that `GET /token` must issue (200) for these credentials and scopes."""
    response = get_token(url, scopes, headers)
    assert response.status_code == 200, response.text
    return response.json()["token"]


def tinyreg_admin(data_dir: Path, *args: str, stdin: str | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run `tinyreg ARGS --data DATA_DIR` (an administration command) and return what it did."""
    return subprocess.run(
        tinyreg_command(*args, "--data", str(data_dir)), input=stdin, capture_output=True, text=True,
        env=env if env is not None else clean_env(), timeout=60, check=False,
    )


def admin_ok(data_dir: Path, *args: str, stdin: str | None = None) -> Any:
    """Run an administration command with `--json`; it must exit 0; return its JSON output."""
    done = tinyreg_admin(data_dir, *args, "--json", stdin=stdin)
    assert done.returncode == 0, f"tinyreg {' '.join(args)} exited {done.returncode}: {done.stderr}"
    return json.loads(done.stdout)


# -- embedded registries: ports, data directories, descriptors and threads ------------------

@contextmanager
def port_in_use(host: str = "127.0.0.1") -> Iterator[int]:
    """A port of `host` held by a listening socket for the duration of the block."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        sock.listen()
        yield sock.getsockname()[1]


def unusable_data_dir(root: Path) -> Path:
    """A data directory that cannot be created: its parent is a regular file under `root`."""
    blocker = root / "a-regular-file"
    blocker.write_text("not a directory\n")
    return blocker / "data"


def accepts_connections(host: str) -> bool:
    """Whether something listens on `host` (`address:port`)."""
    address, _, port = host.rpartition(":")
    try:
        with socket.create_connection((address, int(port)), timeout=10):
            return True
    except ConnectionRefusedError:
        return False


def open_fd_count() -> int:
    """How many file descriptors this process has open."""
    return len(os.listdir("/proc/self/fd"))


@dataclass(frozen=True)
class AuthWorld:
    """A registry with `--auth` and a known cast: root (admin); alice owns the private `team/app`
    and the public `pub/site`; bob is a reporter of `team/app`; carol owns the private
    `carol/box`; `loose/repo` belongs to no project. Every repository in `REPOS` has a `v1`."""

    PASSWORDS = {name: f"{name}-Pa55-phrase-{name}" for name in ("root", "alice", "bob", "carol")}
    REPOS = ("team/app", "team/app/api", "pub/site", "carol/box", "loose/repo")

    registry: Any
    digests: dict[str, str]

    @classmethod
    def build(cls, registry: Any) -> "AuthWorld":
        """Create the cast and push the images on a fresh `RunningRegistry` started with `auth=True`."""
        for name, password in cls.PASSWORDS.items():
            registry.create_user(name, password, admin=name == "root")
        registry.create_project("team/app", owner="alice")
        registry.add_member("team/app", "bob", "reporter")
        registry.create_project("pub/site", public=True, owner="alice")
        registry.create_project("carol/box", owner="carol")
        return cls(registry, {repo: registry.push_image(repo, "v1") for repo in cls.REPOS})

    @property
    def url(self) -> str:
        return self.registry.url

    def login(self, name: str) -> dict[str, str]:
        """Basic credentials of one of the cast."""
        return basic_auth(name, self.PASSWORDS[name])

    def client(self, headers: dict[str, str] | None = None) -> httpx.Client:
        """An API client sending `headers` (credentials) with every request."""
        api = api_client(self.url)
        api.headers.update(headers or {})
        return api

    def pull_status(self, repo: str, headers: dict[str, str] | None = None) -> int:
        """The status of `GET /v2/<repo>/manifests/v1` with these credentials."""
        with self.client(headers) as api:
            return api.get(f"/v2/{repo}/manifests/v1", headers={"Accept": OCI_MANIFEST}).status_code


def granted_access(response: httpx.Response) -> dict[str, list[str]]:
    """repository name → actions, from the `access` claim of a successful `/token` answer."""
    assert response.status_code == 200, response.text
    return {entry["name"]: entry["actions"] for entry in jwt_sections(response.json()["token"])[1]["access"]}

"""Crash safety: a registry killed (SIGKILL) in the middle of pushes restarts on the same data with every
acknowledged push intact, nothing half-made visible, and metadata and files in agreement. Idle uploads expire."""

from __future__ import annotations

import hashlib
import http.client
import itertools
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
from tinyreg.storage.opening import open_meta
from tinyreg.testing import run_registry

from tests.helpers import api_client, assert_error, digest_of, push_blob, send_chunk, start_upload
from tests.manifest_builders import OCI_CONFIG, OCI_LAYER, OCI_MANIFEST, encode
from tests.processes import MiB, ServerProcess, clean_env, random_bytes, wait_until

KILL_AFTER = (2, 8, 16)
"""Each round kills the registry once this many of its pushes have been acknowledged."""
WORKERS = 4
CHUNK = 3 * MiB
SIZES = {"chunked": 7 * MiB + 3, "monolithic": 2 * MiB + 1, "config": 300, "layer": 256 * 1024}
EXPECTED_STATUS = {"acknowledged": {200}, "finishing": {200, 404}, "started": {404}}
"""What a push may look like after the crash, by what its client saw: a 201; a finishing request sent but
not answered; or not even its finishing request sent."""


@dataclass
class BlobPush:
    """One blob push and the last thing its client learnt about it (`state`)."""

    kind: str
    repo: str
    seed: int
    size: int
    digest: str
    state: str = "started"
    answer: int | None = None
    location: str | None = None
    """The session a chunked push finishes with its PUT."""

    @property
    def content(self) -> bytes:
        return random_bytes(self.seed, self.size)

    @property
    def path(self) -> str:
        return f"/v2/{self.repo}/blobs/{self.digest}"


@dataclass
class ManifestPush:
    """One manifest push under its own tag and the last thing its client learnt about it."""

    repo: str
    tag: str
    body: bytes
    state: str = "started"
    answer: int | None = None

    @property
    def digest(self) -> str:
        return digest_of(self.body)


def last_chunk_start(size: int) -> int:
    """Where the chunk sent with the finishing PUT of a chunked push starts."""
    return (size - 1) // CHUNK * CHUNK


def new_blob_push(kind: str, repo: str, seed: int) -> BlobPush:
    """A push of `SIZES[kind]` bytes generated from `seed`, not sent yet."""
    size = SIZES[kind]
    return BlobPush(kind, repo, seed, size, digest_of(random_bytes(seed, size)))


def send_blob(client: httpx.Client, push: BlobPush) -> None:
    """Push a blob (chunked: POST, PATCHes, PUT with the last chunk; otherwise one POST), recording its state."""
    content = push.content
    if push.kind != "chunked":
        push.state = "finishing"
        answer = client.post(f"/v2/{push.repo}/blobs/uploads/", params={"digest": push.digest}, content=content)
    else:
        answer = client.post(f"/v2/{push.repo}/blobs/uploads/")
        last = last_chunk_start(push.size)
        for start in range(0, last, CHUNK):
            if answer.status_code != 202:
                break
            answer = send_chunk(client, answer.headers["Location"], content[start : start + CHUNK], start)
        if answer.status_code == 202:
            push.state, push.location = "finishing", answer.headers["Location"]
            answer = client.put(push.location, params={"digest": push.digest}, content=content[last:])
    push.answer = answer.status_code
    push.state = "acknowledged" if answer.status_code == 201 else "rejected"


def send_manifest(client: httpx.Client, push: ManifestPush) -> None:
    """PUT the manifest under its tag, recording its state."""
    push.state = "finishing"
    answer = client.put(f"/v2/{push.repo}/manifests/{push.tag}", content=push.body, headers={"Content-Type": OCI_MANIFEST})
    push.answer = answer.status_code
    push.state = (
        "acknowledged" if answer.status_code == 201 and answer.headers.get("Docker-Content-Digest") == push.digest else "rejected"
    )


def send(client: httpx.Client, push: BlobPush | ManifestPush) -> None:
    """Send a blob or a manifest push."""
    if isinstance(push, BlobPush):
        send_blob(client, push)
    else:
        send_manifest(client, push)


def image_body(config: BlobPush, layer: BlobPush) -> bytes:
    """An image manifest over two pushed blobs."""
    return encode(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": config.digest, "size": config.size},
            "layers": [{"mediaType": OCI_LAYER, "digest": layer.digest, "size": layer.size}],
        }
    )


class Workload:
    """Threads pushing chunked blobs, monolithic blobs and images to one registry until it is killed."""

    def __init__(self, url: str, seeds: Iterator[int]) -> None:
        self.url = url
        self.seeds = seeds
        self.blobs: list[BlobPush] = []
        self.manifests: list[ManifestPush] = []
        self.failures: list[str] = []
        self.killed = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._work, args=(n,), daemon=True) for n in range(WORKERS)]
        for thread in self._threads:
            thread.start()

    def _work(self, worker: int) -> None:
        kinds = itertools.islice(itertools.cycle(("chunked", "monolithic", "image")), worker, None)
        with httpx.Client(base_url=self.url, timeout=60) as client:
            while not self.killed.is_set():
                try:
                    self._push(client, next(kinds))
                except httpx.HTTPError as error:
                    if not self.killed.is_set():
                        self.failures.append(f"worker {worker}: {error!r} before the kill")
                    return

    def _push(self, client: httpx.Client, kind: str) -> None:
        with self._lock:
            seed = next(self.seeds)
            repo = f"crash/repo{seed % 3}"
            parts = [
                new_blob_push(k, repo, seed * 10 + i) for i, k in enumerate(("config", "layer") if kind == "image" else (kind,))
            ]
            self.blobs.extend(parts)
        for part in parts:
            send_blob(client, part)
            if part.state != "acknowledged":
                return
        if kind == "image":
            manifest = ManifestPush(repo, f"t{seed}", image_body(*parts))
            with self._lock:
                self.manifests.append(manifest)
            send_manifest(client, manifest)

    def pushes(self) -> list[BlobPush | ManifestPush]:
        with self._lock:
            return [*self.blobs, *self.manifests]

    def kill_after(self, server: ServerProcess, acknowledged: int, timeout: float = 180) -> None:
        """SIGKILL the registry once `acknowledged` pushes got their 201 while others are in flight."""
        deadline = time.monotonic() + timeout
        while True:
            states = [push.state for push in self.pushes()]
            assert not self.failures, self.failures
            assert "rejected" not in states, [p for p in self.pushes() if p.state == "rejected"]
            if states.count("acknowledged") >= acknowledged and {"started", "finishing"} & set(states):
                break
            assert time.monotonic() < deadline, f"only {states.count('acknowledged')} pushes acknowledged"
            time.sleep(0.005)
        self.killed.set()
        server.process.send_signal(signal.SIGKILL)
        server.wait_exit()
        for thread in self._threads:
            thread.join(timeout=60)
        assert not any(thread.is_alive() for thread in self._threads)
        assert not self.failures, self.failures


@dataclass
class OpenUpload:
    """An upload session left open across the kill, and how many of its bytes were acknowledged."""

    repo: str
    content: bytes
    location: str
    acknowledged: int


def open_upload(client: httpx.Client, repo: str, seed: int) -> OpenUpload:
    """Start an 8 MiB upload and send (and have acknowledged) its first 2 MiB."""
    content = random_bytes(seed, 8 * MiB)
    answer = send_chunk(client, start_upload(client, repo), content[: 2 * MiB], 0)
    assert answer.status_code == 202, answer.text
    return OpenUpload(repo, content, answer.headers["Location"], 2 * MiB)


def begin_torn_chunk(url: str, upload: OpenUpload, data_dir: Path) -> http.client.HTTPConnection:
    """Send most (not all) of the next chunk of `upload` and leave the request open."""
    address = httpx.URL(url)
    connection = http.client.HTTPConnection(address.host, address.port, timeout=60)
    rest = upload.content[upload.acknowledged :]
    connection.putrequest("PATCH", upload.location)
    connection.putheader("Content-Length", str(len(rest)))
    connection.putheader("Content-Range", f"{upload.acknowledged}-{len(upload.content) - 1}")
    connection.endheaders()
    connection.send(rest[: len(rest) - 1024])
    staging = data_dir / "uploads" / upload.location.rsplit("/", 1)[1]
    deadline = time.monotonic() + 10
    while staging.stat().st_size <= upload.acknowledged and time.monotonic() < deadline:
        time.sleep(0.01)
    return connection


def check_served(client: httpx.Client, pushes: list[BlobPush | ManifestPush]) -> None:
    """Each push is served exactly, or is absent, as its state allows."""
    for push in pushes:
        if isinstance(push, BlobPush):
            found = client.head(push.path)
            assert found.status_code in EXPECTED_STATUS[push.state], push
            if found.status_code == 200:
                body = client.get(push.path)
                assert body.status_code == 200
                assert (len(body.content), digest_of(body.content)) == (push.size, push.digest), push
        else:
            for reference in (push.tag, push.digest):
                body = client.get(f"/v2/{push.repo}/manifests/{reference}", headers={"Accept": OCI_MANIFEST})
                assert body.status_code in EXPECTED_STATUS[push.state], push
                if body.status_code == 200:
                    assert body.content == push.body
                    assert body.headers["Docker-Content-Digest"] == push.digest
                    assert body.headers["Content-Type"] == OCI_MANIFEST


def retry_unanswered_put(client: httpx.Client, push: BlobPush) -> None:
    """A client whose final PUT got no answer retries it: the blob is completed (201) or the session is gone (404)."""
    retried = client.put(push.location, params={"digest": push.digest}, content=push.content[last_chunk_start(push.size) :])  # type: ignore[arg-type]
    if retried.status_code != 201:
        assert_error(retried, 404, "BLOB_UPLOAD_UNKNOWN")


def resume(client: httpx.Client, upload: OpenUpload) -> None:
    """The session reports the acknowledged bytes; sending the rest from there completes the blob."""
    status = client.get(upload.location)
    assert status.status_code == 204, status.text
    assert status.headers["Range"] == f"0-{upload.acknowledged - 1}"
    digest = digest_of(upload.content)
    rest = upload.content[upload.acknowledged :]
    answer = client.put(
        status.headers["Location"],
        params={"digest": digest},
        content=rest,
        headers={
            "Content-Range": f"{upload.acknowledged}-{len(upload.content) - 1}",
        },
    )
    assert answer.status_code == 201, answer.text
    assert client.get(f"/v2/{upload.repo}/blobs/{digest}").content == upload.content


def check_metadata_matches_files(data_dir: Path) -> None:
    """Every metadata row refers to data that exists: blob rows to files of their size and digest, links to
    blob rows, manifests to their bytes and references, tags to manifests."""
    meta = open_meta(data_dir)
    try:
        with meta.read() as tx:
            blobs = {digest: tx.blob(digest) for digest in tx.iter_blobs()}
            links = {(repo, digest): row for repo, digest, row in tx.iter_links()}
            manifests = {(repo, digest): row for repo, digest, row in tx.iter_manifests()}
            data = {digest: tx.manifest_data(digest) for digest in tx.iter_manifest_data()}
            tags = {
                (repo, tag): tx.tag_digest(repo, tag)
                for repo in tx.iter_repositories()
                for tag in tx.tags(repo, after=None, limit=10**6)[0]
            }
    finally:
        meta.close()
    assert blobs
    for digest, row in blobs.items():
        assert row is not None
        encoded = digest.split(":", 1)[1]
        path = data_dir / "blobs" / "sha256" / encoded[:2] / encoded[2:4] / encoded
        assert path.is_file(), f"blob row {digest} has no file"
        assert path.stat().st_size == row["size"], digest
        with open(path, "rb") as file:
            assert "sha256:" + hashlib.file_digest(file, "sha256").hexdigest() == digest
    for (repo, digest), link in links.items():
        assert digest in blobs, f"{repo} links to {digest}, which has no blob row"
        assert link["size"] == blobs[digest]["size"]  # type: ignore[index]
    for (repo, digest), manifest in manifests.items():
        assert digest_of(data[digest]) == digest  # type: ignore[arg-type]
        for ref in manifest["refs"]:
            assert (repo, ref) in links or (repo, ref) in manifests, f"{repo}@{digest} refers to missing {ref}"
    for (repo, tag), target in tags.items():
        assert (repo, target) in manifests, f"{repo}:{tag} points to a missing manifest"


def serve(data_dir: Path) -> ServerProcess:
    """`tinyreg serve` on a free port and `data_dir`."""
    return ServerProcess(
        ["serve", "--port", "0", "--data", str(data_dir), "--log-level", "warning"], cwd=data_dir.parent, env=clean_env()
    )


def test_a_killed_registry_keeps_every_acknowledged_push_and_shows_nothing_unfinished(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    seeds = itertools.count(1)
    earlier: list[BlobPush | ManifestPush] = []
    for kill_after in KILL_AFTER:
        with serve(data_dir) as server:
            url = server.wait_listening()
            with api_client(url) as client:
                uploads = [open_upload(client, f"crash/open{n}", next(seeds)) for n in range(3)]
            torn = begin_torn_chunk(url, uploads[-1], data_dir)
            workload = Workload(url, seeds)
            workload.kill_after(server, kill_after)
            torn.close()
        pushes = workload.pushes()
        states = {push.state for push in pushes}
        assert "acknowledged" in states and states - {"acknowledged"}, "the kill fell outside the pushes"

        with serve(data_dir) as server, api_client(server.wait_listening()) as client:
            check_served(client, earlier + pushes)
            for push in pushes:
                if isinstance(push, BlobPush) and push.kind == "chunked" and push.state == "finishing":
                    retry_unanswered_put(client, push)
            for upload in uploads:
                resume(client, upload)
            for push in pushes:
                send(client, push)
                assert push.state == "acknowledged", push
            check_served(client, pushes)
            assert server.stop(signal.SIGTERM) == 0
        check_metadata_matches_files(data_dir)
        earlier += pushes


def test_an_upload_left_idle_expires_and_its_staging_file_is_removed(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    content = random_bytes(7, MiB)
    with run_registry(data_dir) as registry, api_client(registry.url) as client:
        answer = send_chunk(client, start_upload(client, "sweep/app"), content, 0)
        assert answer.status_code == 202
        location = answer.headers["Location"]
        staging = data_dir / "uploads" / answer.headers["Docker-Upload-UUID"]
        assert staging.is_file()
    with run_registry(data_dir, upload_ttl=0.5, sweep_interval=0.2) as registry, api_client(registry.url) as client:
        wait_until(lambda: not staging.exists(), "removed")
        assert_error(client.get(location), 404, "BLOB_UPLOAD_UNKNOWN")
        assert_error(send_chunk(client, location, content, 0), 404, "BLOB_UPLOAD_UNKNOWN")
        assert client.head(f"/v2/sweep/app/blobs/{digest_of(content)}").status_code == 404
        push_blob(client, "sweep/app", content)


def test_a_staging_file_without_a_session_is_removed_by_the_sweeper(tmp_path: Path) -> None:
    orphan = tmp_path / "data" / "uploads" / uuid.uuid4().hex
    orphan.parent.mkdir(parents=True)
    orphan.write_bytes(b"left by a crash")
    with run_registry(tmp_path / "data", upload_ttl=0.5, sweep_interval=0.2):
        wait_until(lambda: not orphan.exists(), "removed")


def test_a_session_whose_bytes_were_moved_into_place_just_before_a_crash_ends_cleanly(tmp_path: Path) -> None:
    """The state SIGKILL leaves between a finished upload's rename into the blob path and the metadata
    transaction that records it, made by hand: the retried PUT then completes the blob or the session is unknown."""
    data_dir = tmp_path / "data"
    content = random_bytes(11, MiB)
    digest = digest_of(content)
    with run_registry(data_dir) as registry, api_client(registry.url) as client:
        answer = send_chunk(client, start_upload(client, "window/app"), content, 0)
        assert answer.status_code == 202
        location, upload_id = answer.headers["Location"], answer.headers["Docker-Upload-UUID"]
    encoded = digest.split(":", 1)[1]
    target = data_dir / "blobs" / "sha256" / encoded[:2] / encoded[2:4] / encoded
    target.parent.mkdir(parents=True, exist_ok=True)
    (data_dir / "uploads" / upload_id).rename(target)
    with run_registry(data_dir) as registry, api_client(registry.url) as client:
        retried = client.put(location, params={"digest": digest})
        if retried.status_code == 201:
            assert client.get(f"/v2/window/app/blobs/{digest}").content == content
        else:
            assert_error(retried, 404, "BLOB_UPLOAD_UNKNOWN")
            assert_error(client.get(location), 404, "BLOB_UPLOAD_UNKNOWN")
        push_blob(client, "window/app", content)

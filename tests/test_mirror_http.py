"""The pull-through cache over HTTP, against real upstreams on 127.0.0.1: Distribution's
`docker-registry` (its access log counts what the cache asked), a tinyreg subprocess with
--auth (Docker's token flow), and a small server sending wrong bytes."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from tinyreg import samples
from tinyreg.registry.mirrors import STALE_WARNING, Mirror
from tinyreg.testing import RunningRegistry, run_registry

from tests.auth_helpers import basic_auth, bearer_auth, challenge_params, token_for
from tests.helpers import assert_error
from tests.mirror_helpers import MANIFEST_ACCEPT, Distribution, pull, push_sample, sha256
from tests.processes import ServerProcess, clean_env, tinyreg_command


def _cache(upstream_url: str, *, tag_ttl: float = 300.0, **mirror: Any) -> Any:
    return run_registry(mirrors=(Mirror("hub", upstream_url, tag_ttl=tag_ttl, **mirror),))


def test_cached_digests_and_tags_are_served_while_upstream_is_down(upstream: Distribution) -> None:
    image = samples.image(layers=2, seed="down")
    digest = push_sample(upstream.url, "library/alpine", "3.19", image)
    with _cache(upstream.url, tag_ttl=0.2) as cache, httpx.Client(base_url=cache.url, timeout=60) as client:
        manifest, blobs = pull(client, "hub/library/alpine", "3.19")
        assert manifest.headers["Docker-Content-Digest"] == digest and set(blobs) <= {sha256(b) for b in image.blobs}
        assert "Warning" not in manifest.headers
        upstream.stop()
        by_digest, again = pull(client, "hub/library/alpine", digest)
        assert again == blobs and "Warning" not in by_digest.headers
        for path in [f"manifests/{digest}", *(f"blobs/{blob}" for blob in blobs)]:
            head = client.head(f"/v2/hub/library/alpine/{path}")
            assert head.status_code == 200 and "Warning" not in head.headers
        time.sleep(0.2)  # the tag's ttl: it is revalidated now, and upstream cannot answer
        stale, _ = pull(client, "hub/library/alpine", "3.19")
        assert stale.content == manifest.content and stale.headers["Warning"] == STALE_WARNING
        missing = client.get("/v2/hub/library/busybox/manifests/latest")
        body = assert_error(missing, 502, "UNKNOWN")
        assert f"upstream hub ({upstream.url}) could not be reached for manifest library/busybox:latest" in str(body)


def test_a_moved_tag_is_seen_after_the_ttl_and_not_before(upstream: Distribution) -> None:
    ttl = 2.0
    first = push_sample(upstream.url, "library/app", "v1", samples.image(seed="first"))
    with _cache(upstream.url, tag_ttl=ttl) as cache, httpx.Client(base_url=cache.url, timeout=60) as client:
        pulled_at = time.monotonic()
        assert pull(client, "hub/library/app", "v1")[0].headers["Docker-Content-Digest"] == first
        moved = push_sample(upstream.url, "library/app", "v1", samples.image(seed="second"))
        asked = len(upstream.requests("HEAD", "/manifests/v1")) + len(upstream.requests("GET", "/manifests/v1"))
        assert pull(client, "hub/library/app", "v1")[0].headers["Docker-Content-Digest"] == first
        assert len(upstream.requests("HEAD", "/manifests/v1")) + len(upstream.requests("GET", "/manifests/v1")) == asked
        seen = first
        for _ in range(40):  # bounded: ttl 2 s, polled every 0.25 s
            seen = pull(client, "hub/library/app", "v1")[0].headers["Docker-Content-Digest"]
            if seen == moved:
                break
            time.sleep(0.25)
        assert seen == moved and time.monotonic() - pulled_at >= ttl
        assert upstream.requests("HEAD", "/manifests/v1"), "the stale tag is revalidated with a HEAD"


def test_containerd_ns_requests_share_the_prefix_cache(upstream: Distribution) -> None:
    digest = push_sample(upstream.url, "library/alpine", "3.19", samples.image(seed="ns"))
    # Without prefetch: what upstream is asked shows which blobs the ns requests cached.
    with _cache(upstream.url, prefetch=False) as cache, httpx.Client(base_url=cache.url, timeout=60) as client:
        assert client.get("/v2/", params={"ns": "docker.io"}).status_code == 200
        manifest = client.get("/v2/library/alpine/manifests/3.19", params={"ns": upstream.host})
        assert manifest.status_code == 200 and manifest.headers["Docker-Content-Digest"] == digest
        for layer in manifest.json()["layers"]:
            blob = client.get(f"/v2/library/alpine/blobs/{layer['digest']}", params={"ns": upstream.host})
            assert blob.status_code == 200 and sha256(blob.content) == layer["digest"]
        before = len(upstream.requests("GET"))
        pull(client, "hub/library/alpine", "3.19")  # the same cache through the path prefix: upstream not asked
        assert len(upstream.requests("GET")) == before + 1  # only the config blob, not pulled through ns above
        unknown_ns = client.get("/v2/library/alpine/manifests/3.19", params={"ns": "quay.io"})
        assert_error(unknown_ns, 404, "NAME_UNKNOWN", "MANIFEST_UNKNOWN")


def test_sixteen_concurrent_pulls_fetch_each_blob_once(upstream: Distribution) -> None:
    image = samples.image(layers=3, seed="concurrent")
    big = samples.artifact(
        {"big.bin": bytes(range(256)) * 16384 * 2}, artifact_type="application/x-test", media_type="application/octet-stream"
    )
    push_sample(upstream.url, "library/many", "1", image)
    push_sample(upstream.url, "library/big", "1", big)
    with _cache(upstream.url) as cache:
        barrier = threading.Barrier(16)

        def one(number: int) -> dict[str, bytes]:
            with httpx.Client(base_url=cache.url, timeout=120) as client:
                barrier.wait(timeout=60)
                repo = "hub/library/many" if number % 2 else "hub/library/big"
                return pull(client, repo, "1")[1]

        with ThreadPoolExecutor(16) as pool:
            results = list(pool.map(one, range(16)))
    assert all(len(found) == 4 for found in results[1::2]) and all(len(found) == 2 for found in results[::2])
    blob_gets = upstream.requests("GET", "/blobs/")
    assert sorted(blob_gets) == sorted(set(blob_gets)), "one upstream GET per blob and repository"
    assert len(upstream.requests("GET", "/manifests/1")) == 2  # one per repository


def test_an_index_is_cached_with_the_platforms_that_were_pulled(upstream: Distribution) -> None:
    amd, arm = samples.image(architecture="amd64", seed="idx"), samples.image(architecture="arm64", seed="idx")
    push_sample(upstream.url, "library/multi", amd.digest, amd)
    push_sample(upstream.url, "library/multi", arm.digest, arm)
    index = samples.index([amd, arm], [{"os": "linux", "architecture": "amd64"}, {"os": "linux", "architecture": "arm64"}])
    push_sample(upstream.url, "library/multi", "latest", index)
    with _cache(upstream.url) as cache, httpx.Client(base_url=cache.url, timeout=60) as client:
        listed = client.get("/v2/hub/library/multi/manifests/latest", headers={"Accept": MANIFEST_ACCEPT})
        assert listed.status_code == 200 and listed.content == index.manifest
        pull(client, "hub/library/multi", amd.digest)
        upstream.stop()
        assert client.get("/v2/hub/library/multi/manifests/latest").content == index.manifest
        assert client.get(f"/v2/hub/library/multi/manifests/{amd.digest}").content == amd.manifest
        assert_error(client.get(f"/v2/hub/library/multi/manifests/{arm.digest}"), 502, "UNKNOWN")


def test_cached_repositories_are_read_only_and_local_pushes_keep_working(upstream: Distribution) -> None:
    push_sample(upstream.url, "library/alpine", "3.19", samples.image(seed="ro"))
    with _cache(upstream.url, deny=("library/secret*",)) as cache, httpx.Client(base_url=cache.url, timeout=60) as client:
        pull(client, "hub/library/alpine", "3.19")
        for method, path in (
            ("PUT", "/v2/hub/library/alpine/manifests/mine"),
            ("POST", "/v2/hub/library/alpine/blobs/uploads/"),
            ("DELETE", "/v2/hub/library/alpine/manifests/3.19"),
        ):
            body = assert_error(client.request(method, path, content=b"{}"), 403, "DENIED")
            assert f"read-only cache of {upstream.url} (mirror hub)" in str(body)
        denied = assert_error(client.get("/v2/hub/library/secret-stuff/manifests/1"), 403, "DENIED")
        assert "allow/deny" in str(denied)
        push_sample(cache.url, "team/app", "1", samples.image(seed="local"))
        pull(client, "team/app", "1")
        assert client.get("/v2/hub/library/alpine/tags/list").json() == {"name": "hub/library/alpine", "tags": ["3.19"]}


class _Corrupting(BaseHTTPRequestHandler):
    """An upstream that serves a good manifest, but other bytes for its layer (same length, or chunked)."""

    image = samples.image(seed="corrupt")
    other = samples.image(seed="corrupt-other")
    chunked = False
    blob_gets = 0

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        document = json.loads(self.image.manifest)
        layer = document["layers"][0]["digest"]
        if self.path == "/v2/":
            self._send(200, b"{}")
        elif self.path == "/v2/library/bad/manifests/1":
            self._send(200, self.image.manifest, self.image.media_type)
        elif self.path.endswith(f"/blobs/{layer}"):
            type(self).blob_gets += 1
            original = next(blob for blob in self.image.blobs if sha256(blob) == layer)
            self._send(200, bytes(b ^ 0xFF for b in original[:-1]) + original[-1:])
        elif self.path == f"/v2/library/bad/manifests/{self.other.digest}":
            self._send(200, self.other.manifest.replace(b'"schemaVersion"', b' "schemaVersion"'), self.other.media_type)
        else:
            self._send(404, b'{"errors": [{"code": "NOT_FOUND", "message": "nothing here"}]}')

    def _send(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        if self.chunked and status == 200 and content_type == "application/json" and body != b"{}":
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for start in range(0, len(body), 100):
                piece = body[start : start + 100]
                self.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
            self.wfile.write(b"0\r\n\r\n")
            return
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_wrong_bytes_from_upstream_are_never_stored_and_the_client_errors(chunked: bool) -> None:
    class Handler(_Corrupting):
        pass

    Handler.chunked, Handler.blob_gets = chunked, 0
    handler = Handler
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        # Without prefetch, each GET of the layer is one upstream GET (see the prefetch test below).
        with _cache(url, prefetch=False) as cache, httpx.Client(base_url=cache.url, timeout=60) as client:
            manifest = client.get("/v2/hub/library/bad/manifests/1")
            assert manifest.status_code == 200
            layer = manifest.json()["layers"][0]["digest"]
            for attempt in (1, 2):
                with pytest.raises(httpx.HTTPError):  # cut short: never a complete body of the wrong bytes
                    client.get(f"/v2/hub/library/bad/blobs/{layer}")
                assert handler.blob_gets == attempt, "nothing was cached: the next pull asks upstream again"
            other = client.get(f"/v2/hub/library/bad/manifests/{_Corrupting.other.digest}")
            body = assert_error(other, 502, "UNKNOWN")
            assert "nothing was stored" in str(body)
            assert _stored_blobs(cache) == []
    finally:
        server.shutdown()
        server.server_close()


def test_a_prefetched_layer_with_wrong_bytes_is_never_stored_nor_served() -> None:
    class Handler(_Corrupting):
        pass

    Handler.chunked, Handler.blob_gets = False, 0
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with (
            _cache(f"http://127.0.0.1:{server.server_address[1]}") as cache,
            httpx.Client(base_url=cache.url, timeout=60) as client,
        ):
            manifest = client.get("/v2/hub/library/bad/manifests/1")  # starts the layer's fetch
            assert manifest.status_code == 200
            layer = manifest.json()["layers"][0]["digest"]
            with pytest.raises(httpx.HTTPError):  # the prefetch's failure, or its own fetch's: cut short either way
                client.get(f"/v2/hub/library/bad/blobs/{layer}")
            assert Handler.blob_gets >= 1 and _stored_blobs(cache) == []
    finally:
        server.shutdown()
        server.server_close()


def _stored_blobs(cache: RunningRegistry) -> list[str]:
    """The blob files in the data directory of the cache (none were pushed locally)."""
    return sorted(
        f"sha256:{path.name}" for path in (cache.data_dir / "blobs").rglob("*") if path.is_file() and len(path.name) == 64
    )


@pytest.fixture
def token_upstream(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """A tinyreg subprocess with --auth (token flow); user `mirror`, password `s3cret-password`."""
    data = tmp_path / "token-upstream"
    env = clean_env()
    for args, stdin in (
        (["user", "add", "mirror", "--admin", "--password-stdin", "--data", str(data), "--init"], "s3cret-password\n"),
        (["project", "create", "library", "--data", str(data)], None),
    ):
        done = subprocess.run(tinyreg_command(*args), input=stdin, capture_output=True, text=True, env=env, timeout=60)
        assert done.returncode == 0, done.stderr
    with ServerProcess(["serve", "--auth", "--port", "0", "--data", str(data), "--gc-interval", "off"], cwd=tmp_path) as server:
        yield server.wait_listening(), "s3cret-password"


def test_an_upstream_with_the_token_flow_is_pulled_with_the_mirrors_credentials(token_upstream: tuple[str, str]) -> None:
    url, password = token_upstream
    image = samples.image(layers=2, seed="token")
    push_sample(url, "library/private", "1", image, auth=httpx.BasicAuth("mirror", password))
    anonymous = httpx.get(f"{url}/v2/library/private/manifests/1")
    assert anonymous.status_code == 401 and anonymous.headers["WWW-Authenticate"].startswith("Bearer realm=")
    with (
        run_registry(mirrors=(Mirror("up", url, username="mirror", password=password), Mirror("noauth", url))) as cache,
        httpx.Client(base_url=cache.url, timeout=60) as client,
    ):
        manifest, _ = pull(client, "up/library/private", "1")
        assert manifest.content == image.manifest
        refused = assert_error(client.get("/v2/noauth/library/private/manifests/1"), 502, "UNKNOWN")
        assert f"upstream noauth ({url}) answered 401 for manifest library/private:1" in str(refused)


def test_the_dependency_proxy_lets_the_groups_readers_pull_and_nobody_push(upstream: Distribution) -> None:
    digest = push_sample(upstream.url, "library/alpine", "3.19", samples.image(seed="proxy-auth"))
    proxied = "acme/dependency_proxy/containers/alpine"
    with run_registry(auth=True, mirrors=(Mirror("hub", upstream.url),)) as cache:
        cache.create_user("owner", "owner-password-1")
        cache.create_user("reader", "reader-password-1")
        cache.create_user("stranger", "stranger-password-1")
        cache.create_group("acme", owner="owner")
        cache.add_group_member("acme", "reader", "reporter")
        with httpx.Client(base_url=cache.url, timeout=60) as client:
            scope = f"repository:{proxied}:pull"
            token = token_for(cache.url, [scope], basic_auth("reader", "reader-password-1"))
            pulled = client.get(f"/v2/{proxied}/manifests/3.19", headers=bearer_auth(token))
            assert pulled.status_code == 200 and pulled.headers["Docker-Content-Digest"] == digest
            anonymous = client.get(f"/v2/{proxied}/manifests/3.19")
            assert anonymous.status_code == 401 and challenge_params(anonymous)["scope"] == scope
            stranger = client.get(f"/v2/{proxied}/manifests/3.19", headers=basic_auth("stranger", "stranger-password-1"))
            assert "not found or no access" in str(assert_error(stranger, 403, "DENIED"))
            owner = basic_auth("owner", "owner-password-1")
            pushed = client.put(f"/v2/{proxied}/manifests/mine", content=b"{}", headers=owner)
            assert "read-only cache" in str(assert_error(pushed, 403, "DENIED"))
            by_prefix = client.get("/v2/hub/library/alpine/manifests/3.19", headers=basic_auth("stranger", "stranger-password-1"))
            assert by_prefix.status_code == 200, "any signed-in user pulls through a mirror's path"
            assert client.get("/v2/hub/library/alpine/manifests/3.19").status_code == 401


class _Overloaded(BaseHTTPRequestHandler):
    """An upstream that serves one image until told to answer every request with `status`."""

    image = samples.image(seed="overloaded")
    status = 200

    def log_message(self, *args: object) -> None:
        pass

    def do_HEAD(self) -> None:
        self.do_GET()

    def do_GET(self) -> None:
        if self.status != 200 or self.path != "/v2/library/app/manifests/1":
            body = b'{"errors": [{"code": "TOOMANYREQUESTS", "message": "slow down"}]}'
            self.send_response(self.status if self.status != 200 else 404)
        else:
            body = self.image.manifest
            self.send_response(200)
            self.send_header("Docker-Content-Digest", self.image.digest)
        self.send_header("Content-Type", self.image.media_type if self.status == 200 else "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command == "GET":
            self.wfile.write(body)


@pytest.mark.parametrize("status", [503, 429])
def test_an_overloaded_upstream_gets_the_stale_tag_served_and_its_answer_named(status: int) -> None:
    class Handler(_Overloaded):
        pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        with _cache(url, tag_ttl=0.1) as cache, httpx.Client(base_url=cache.url, timeout=60) as client:
            fresh = client.get("/v2/hub/library/app/manifests/1")
            assert fresh.status_code == 200 and "Warning" not in fresh.headers
            Handler.status = status
            time.sleep(0.1)  # the tag's ttl
            stale = client.get("/v2/hub/library/app/manifests/1")
            assert stale.content == _Overloaded.image.manifest and stale.headers["Warning"] == STALE_WARNING
            uncached = client.get("/v2/hub/library/other/manifests/1")
            expected = ("TOOMANYREQUESTS", 429) if status == 429 else ("UNKNOWN", 502)
            body = assert_error(uncached, expected[1], expected[0])
            assert f"upstream hub ({url}) answered {status} for manifest library/other:1" in str(body)
    finally:
        server.shutdown()
        server.server_close()

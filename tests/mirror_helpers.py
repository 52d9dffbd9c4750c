"""Upstream registries for the pull-through cache's tests, on 127.0.0.1 only.

`Distribution` runs CNCF Distribution's `docker-registry` with its access log on, so a test
counts the requests the cache sent it; `push_sample` pushes a built image over HTTP.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from tinyreg import samples

from tests.helpers import require_tool
from tests.processes import free_port, wait_until

DISTRIBUTION = "/usr/bin/docker-registry"
MANIFEST_ACCEPT = "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json"
#: Distribution's access log line: `... "GET /v2/... HTTP/1.1" 200 ...`.
_REQUEST_LINE = re.compile(
    r'"(?P<method>[A-Z]+) (?P<path>/v2/\S*) HTTP/[0-9.]+" (?P<status>\d{3}) \S+ "[^"]*" "(?P<agent>[^"]*)"'
)


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def pull(client: httpx.Client, repo: str, reference: str) -> tuple[httpx.Response, dict[str, bytes]]:
    """GET a manifest and every blob it names; each blob checked against its digest."""
    manifest = client.get(f"/v2/{repo}/manifests/{reference}", headers={"Accept": MANIFEST_ACCEPT})
    assert manifest.status_code == 200, manifest.text
    assert manifest.headers["Docker-Content-Digest"] == sha256(manifest.content)
    document = manifest.json()
    found = {}
    for descriptor in [document["config"], *document["layers"]]:
        blob = client.get(f"/v2/{repo}/blobs/{descriptor['digest']}")
        assert blob.status_code == 200, blob.text
        assert sha256(blob.content) == descriptor["digest"] and len(blob.content) == descriptor["size"]
        found[descriptor["digest"]] = blob.content
    return manifest, found


def _answers(url: str) -> bool:
    try:
        return httpx.get(f"{url}/v2/", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


class Distribution:
    """`docker-registry serve` with filesystem storage in `root`; stop and start it again at will."""

    def __init__(self, root: Path) -> None:
        require_tool(
            shutil.which(DISTRIBUTION) is not None,
            "docker-registry is not installed",
            kind="UPSTREAM",
            install="apt-get install -y docker-registry",
        )
        self.root = root
        self.port = free_port()
        self.log_path = root / "access.log"
        self.config = root / "config.yml"
        self.config.write_text(
            "version: 0.1\n"
            "log:\n  level: info\n  accesslog:\n    disabled: false\n"
            f"storage:\n  filesystem:\n    rootdirectory: {root / 'storage'}\n"
            "  delete:\n    enabled: true\n"
            "  maintenance:\n    uploadpurging:\n      enabled: false\n"
            f"http:\n  addr: 127.0.0.1:{self.port}\n  secret: tinyreg-mirror-test\n"
        )
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen([DISTRIBUTION, "serve", str(self.config)], stdout=log, stderr=log)
        wait_until(lambda: _answers(self.url), "answering /v2/", timeout=30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)
        self.process = None

    def requests(self, method: str, path_part: str = "") -> list[str]:
        """The paths of the `method` requests logged so far whose path contains `path_part`."""
        return [match["path"] for match in self._logged() if match["method"] == method and path_part in match["path"]]

    def user_agents(self, since: int = 0) -> set[str]:
        """The clients (by User-Agent) of the requests logged after the first `since` of them."""
        return {match["agent"] for match in self._logged()[since:]}

    def logged(self) -> int:
        """How many requests were logged so far."""
        return len(self._logged())

    def _logged(self) -> list[re.Match[str]]:
        lines = self.log_path.read_text(errors="replace").splitlines()
        return [match for line in lines if (match := _REQUEST_LINE.search(line))]


@contextmanager
def distribution(root: Path) -> Iterator[Distribution]:
    root.mkdir(parents=True, exist_ok=True)
    upstream = Distribution(root)
    upstream.start()
    try:
        yield upstream
    finally:
        upstream.stop()


def push_sample(url: str, repo: str, tag: str, sample: samples.Sample, *, auth: httpx.Auth | None = None) -> str:
    """Push `sample`'s blobs (monolithic uploads) and manifest as `repo:tag`; its digest."""
    with httpx.Client(base_url=url, timeout=60, auth=auth) as client:
        for blob in sample.blobs:
            started = client.post(f"/v2/{repo}/blobs/uploads/")
            assert started.status_code == 202, started.text
            location = started.headers["Location"]
            separator = "&" if "?" in location else "?"
            done = client.put(f"{location}{separator}digest={samples.sha256(blob)}", content=blob)
            assert done.status_code == 201, done.text
        put = client.put(f"/v2/{repo}/manifests/{tag}", content=sample.manifest, headers={"Content-Type": sample.media_type})
        assert put.status_code == 201, put.text
    return sample.digest

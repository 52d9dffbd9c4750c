"""Several nodes, one registry: every step of a push may land on another node, and a node killed
mid-push loses nothing that was acknowledged while the others carry on.

Each test runs twice: nodes sharing one data directory on one machine, and nodes with data
directories of their own sharing PostgreSQL metadata, an S3 bucket (a Ceph RADOS Gateway) and
the token signing keys, as nodes on several machines do.
"""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

import httpx
import pytest

from tests.helpers import api_client
from tests.manifest_builders import OCI_MANIFEST, push_image
from tests.processes import random_bytes, wait_until
from tests.servers.nodes import Cluster, Shared, cluster, postgresql_and_s3


@pytest.fixture(params=["one-data-directory", "postgresql+s3"])
def shared(request: pytest.FixtureRequest, tmp_path: Path) -> Shared:
    """What the nodes of a test share."""
    if request.param == "one-data-directory":
        return Shared(request.param, [])
    return postgresql_and_s3(request, tmp_path / "keys")


def test_a_chunked_upload_crosses_nodes_and_every_node_serves_the_result(tmp_path: Path, shared: Shared) -> None:
    data = random_bytes(7, 3 * 1024 * 1024 + 17)
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    with cluster(tmp_path, shared) as nodes, api_client(nodes.url) as client:
        started = client.post("/v2/team/app/blobs/uploads/")
        assert started.status_code == 202, started.text
        location, offset = started.headers["Location"], 0
        for piece in (data[:1_000_000], data[1_000_000:2_000_000], data[2_000_000:]):
            headers = {"Content-Range": f"{offset}-{offset + len(piece) - 1}", "Content-Type": "application/octet-stream"}
            patched = client.patch(location, content=piece, headers=headers)
            assert patched.status_code == 202, patched.text
            location, offset = patched.headers["Location"], offset + len(piece)
        finished = client.put(location, params={"digest": digest})
        assert finished.status_code == 201, finished.text

        pushed = push_image(client, "team/app", "v1", seed="nodes")
        upload_steps = [
            {node for node in range(2) if (method, path) in _upload_requests(nodes, node)}
            for method, path in (("POST", "/v2/team/app/blobs/uploads/"), ("PATCH", None), ("PUT", None))
        ]
        assert set().union(*upload_steps) == {0, 1}, "round robin sent every step of the upload to one node"
        for node in range(2):
            assert nodes.get(node, f"/v2/team/app/blobs/{digest}").content == data
            served = nodes.get(node, "/v2/team/app/manifests/v1", headers={"Accept": OCI_MANIFEST})
            assert served.content == pushed.body


def _upload_requests(nodes: Cluster, node: int) -> set[tuple[str, str | None]]:
    """The upload steps node `node` answered: the POST by path, PATCH and PUT by method only."""
    found: set[tuple[str, str | None]] = set()
    for method, path in nodes.requests_served(node):
        if "/blobs/uploads/" in path:
            found.add((method, path) if method == "POST" else (method, None))
    return found


def test_a_node_killed_mid_push_loses_nothing_acknowledged(tmp_path: Path, shared: Shared) -> None:
    acknowledged: dict[str, bytes] = {}
    lock, stop = threading.Lock(), threading.Event()
    failures = [0]

    def pusher(number: int, url: str) -> None:
        with api_client(url) as client:
            for round_no in range(200):  # bounded: the test stops it long before
                if stop.is_set():
                    return
                tag = f"c{number}-r{round_no}"
                try:
                    pushed = push_image(client, f"team/app/p{number}", tag, seed=tag)
                except (httpx.HTTPError, AssertionError):
                    with lock:
                        failures[0] += 1  # in flight on the killed node: not acknowledged
                    continue
                with lock:
                    acknowledged[f"team/app/p{number}:{tag}"] = pushed.body

    with cluster(tmp_path, shared) as nodes:
        threads = [threading.Thread(target=pusher, args=(n, nodes.url)) for n in range(6)]
        for thread in threads:
            thread.start()
        try:
            wait_until(lambda: len(acknowledged) >= 12, "a dozen pushes acknowledged")
            nodes.nodes[0].kill()
            before = len(acknowledged)
            wait_until(lambda: len(acknowledged) >= before + 24, "pushes carrying on through the other node")
        finally:
            stop.set()
            for thread in threads:
                thread.join(timeout=120)
        with api_client(nodes.url) as client:
            for name, body in sorted(acknowledged.items()):
                repo, tag = name.split(":")
                served = client.get(f"/v2/{repo}/manifests/{tag}", headers={"Accept": OCI_MANIFEST})
                assert served.status_code == 200 and served.content == body, name

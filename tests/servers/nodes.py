"""Several `tinyreg serve` processes serving one registry, behind haproxy (see `haproxy.py`).

Two ways to share one registry: one data directory on one machine (LMDB and blob files are
safe across processes), or PostgreSQL metadata and an S3 bucket with a data directory of each
node's own, as nodes on several machines would (`Shared`).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.processes import ACCESS_LINE, ServerProcess, clean_env
from tests.servers.haproxy import load_balancer


@dataclass
class Shared:
    """What the nodes share: the arguments every node gets, and its environment (S3 credentials)."""

    kind: str
    args: list[str]
    env: dict[str, str] = field(default_factory=dict)
    own_data: bool = False  # each node has a data directory of its own (the shared state is elsewhere)

    def node_args(self, workdir: Path, number: int) -> list[str]:
        data = workdir / (f"node{number}" if self.own_data else "data")
        return ["--data", str(data), *self.args]


def postgresql_and_s3(request: pytest.FixtureRequest, keys: Path, *extra: str) -> Shared:
    """Nodes sharing a fresh database of the session's PostgreSQL, a fresh prefix of its S3 gateway,
    and a keys directory: a registry as it runs across machines."""
    database = request.getfixturevalue("postgres_cluster").fresh_database()
    gateway = request.getfixturevalue("ceph_rgw")
    env = {
        "AWS_ENDPOINT_URL_S3": gateway.endpoint,
        "AWS_ACCESS_KEY_ID": gateway.access_key,
        "AWS_SECRET_ACCESS_KEY": gateway.secret_key,
        "AWS_REGION": gateway.region,
    }
    bucket = f"s3://tinyreg-nodes/{uuid.uuid4().hex}"
    return Shared(
        "postgresql+s3", ["--metadata", database, "--blobs", bucket, "--keys-dir", str(keys), *extra], env, own_data=True
    )


@dataclass
class Cluster:
    url: str  # the load balancer's
    nodes: list[ServerProcess]
    node_urls: list[str]

    def requests_served(self, node: int) -> list[tuple[str, str]]:
        """(method, path) of every request node `node` answered, from its access log."""
        text = self.nodes[node].text("stdout") + "\n" + self.nodes[node].text("stderr")
        return [(found["method"], found["path"]) for found in ACCESS_LINE.finditer(text)]

    def get(self, node: int, path: str, **options: object) -> httpx.Response:
        return httpx.get(self.node_urls[node] + path, timeout=60, follow_redirects=True, **options)  # type: ignore[arg-type]


@contextmanager
def cluster(workdir: Path, shared: Shared, *, count: int = 2) -> Iterator[Cluster]:
    """`count` nodes started with `serve --port 0` and what they share, and haproxy in front of them."""
    with ExitStack() as stack:
        nodes = [
            stack.enter_context(
                ServerProcess(["serve", "--port", "0", *shared.node_args(workdir, n)], cwd=workdir, env=clean_env(**shared.env))
            )
            for n in range(count)
        ]
        urls = [node.wait_listening() for node in nodes]
        balancer = stack.enter_context(load_balancer([url.removeprefix("http://") for url in urls], workdir / "haproxy"))
        yield Cluster(balancer, nodes, urls)

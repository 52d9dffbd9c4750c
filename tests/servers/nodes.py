"""Several `tinyreg serve` processes serving one registry, behind haproxy (see `haproxy.py`)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.processes import ACCESS_LINE, ServerProcess, clean_env
from tests.servers.haproxy import load_balancer


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
        return httpx.get(self.node_urls[node] + path, timeout=60, **options)  # type: ignore[arg-type]


@contextmanager
def cluster(workdir: Path, node_args: Sequence[str], *, count: int = 2, env: dict[str, str] | None = None) -> Iterator[Cluster]:
    """`count` nodes started with `serve --port 0 NODE_ARGS`, and haproxy in front of them."""
    with ExitStack() as stack:
        nodes = [
            stack.enter_context(ServerProcess(["serve", "--port", "0", *node_args], cwd=workdir, env=env or clean_env()))
            for _ in range(count)
        ]
        urls = [node.wait_listening() for node in nodes]
        balancer = stack.enter_context(load_balancer([url.removeprefix("http://") for url in urls], workdir / "haproxy"))
        yield Cluster(balancer, nodes, urls)

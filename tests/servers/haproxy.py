"""Debian's haproxy in front of several registry nodes on 127.0.0.1: round robin, per request.

HTTP mode balances every request of a kept-alive connection on its own, so the steps of one
push (POST, PATCH, PUT of an upload; the manifest PUT) land on different nodes. Each node is
health-checked on `/healthz` every 200 ms; a request that could not reach a node (connection
refused after a node was killed) is sent to another one.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from tests.helpers import require_tool
from tests.processes import free_port, wait_until

CONFIG = """\
global
    maxconn 512
defaults
    mode http
    timeout connect 2s
    timeout client 300s
    timeout server 300s
    timeout check 2s
    retries 3
    option redispatch
    retry-on conn-failure empty-response
frontend registry
    bind 127.0.0.1:{port}
    default_backend nodes
backend nodes
    balance roundrobin
    option httpchk GET /healthz
{servers}
"""


@contextmanager
def load_balancer(nodes: Sequence[str], workdir: Path) -> Iterator[str]:
    """haproxy on a free port of 127.0.0.1 in front of `nodes` ("host:port"); its URL."""
    binary = shutil.which("haproxy")
    require_tool(binary is not None, "haproxy", kind="LOAD BALANCER", install="apt-get install -y haproxy")
    assert binary is not None
    workdir.mkdir(parents=True, exist_ok=True)
    for node in nodes:  # a node's first answer may be slow (imports): not a failed health check
        wait_until(lambda node=node: _answers(f"http://{node}"), f"{node} answering", timeout=20)
    port = free_port()
    servers = "\n".join(f"    server node{n} {node} check inter 200ms fall 1 rise 2" for n, node in enumerate(nodes))
    config = workdir / "haproxy.cfg"
    config.write_text(CONFIG.format(port=port, servers=servers))
    checked = subprocess.run([binary, "-c", "-q", "-f", str(config)], capture_output=True, text=True, timeout=30)
    assert checked.returncode == 0, checked.stderr
    log = (workdir / "haproxy.log").open("wb")
    process = subprocess.Popen([binary, "-db", "-f", str(config)], stdout=log, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until(lambda: _answers(url), "answering through haproxy", timeout=20)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        log.close()


def _answers(url: str) -> bool:
    import httpx

    try:
        return httpx.get(url + "/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False

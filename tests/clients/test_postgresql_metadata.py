"""`tinyreg serve --metadata postgresql://...` with skopeo: push, pull back byte for byte, restart.

The server is a subprocess of its own (not the embedded registry): its metadata lives in a fresh
database of the session's PostgreSQL cluster, which it migrates when it opens it; its blobs are
files of its data directory.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from tests.processes import ServerProcess, clean_env, free_port
from tests.servers.postgres import PostgresCluster

from .test_skopeo import assert_served_exactly, push
from .tools import ImageFactory, Layout, RegistryView, Sandbox, Tool

pytestmark = pytest.mark.clients


@dataclass
class ServedRegistry:
    """What the clients' fixtures need of a registry: where it is."""

    url: str
    host: str


class PostgresqlServer:
    """`tinyreg serve` on a fixed port with its metadata in PostgreSQL, which can be restarted."""

    def __init__(self, data: Path, metadata: str) -> None:
        self.data, self.metadata, self.port = data, metadata, free_port()
        self.process: ServerProcess | None = None

    def start(self) -> str:
        args = ["serve", "--port", str(self.port), "--data", str(self.data), "--gc-interval", "off"]
        self.process = ServerProcess(args, cwd=self.data.parent, env=clean_env(TINYREG_METADATA=self.metadata))
        return self.process.wait_listening(timeout=60)

    def stop(self) -> None:
        if self.process is not None:
            assert self.process.stop() == 0, self.process.text("stderr")
            self.process = None


@pytest.fixture
def metadata_url(postgres_cluster: PostgresCluster) -> Iterator[str]:
    """A new, empty database (no schema: the server migrates it)."""
    url = postgres_cluster.fresh_database(migrated=False)
    yield url
    postgres_cluster.drop_database(url)


@pytest.fixture
def server(tmp_path: Path, metadata_url: str) -> Iterator[PostgresqlServer]:
    served = PostgresqlServer(tmp_path / "data", metadata_url)
    served.start()
    try:
        yield served
    finally:
        if served.process is not None:
            served.process.kill()


@pytest.fixture
def tinyreg(server: PostgresqlServer) -> ServedRegistry:
    """Replaces the embedded registry for the clients' fixtures (sandbox, registry_view)."""
    return ServedRegistry(url=f"http://127.0.0.1:{server.port}", host=f"127.0.0.1:{server.port}")


def test_skopeo_pushes_and_pulls_byte_for_byte_with_metadata_in_postgresql_and_a_restart_keeps_it(
    server: PostgresqlServer,
    skopeo: Tool,
    sandbox: Sandbox,
    umoci_layout: ImageFactory,
    registry_view: RegistryView,
    metadata_url: str,
) -> None:
    assert server.process is not None and "metadata: postgresql://tinyreg:***@" in server.process.text("stdout")
    image = umoci_layout("v1", layer_count=3)

    assert push(skopeo, sandbox, "v1", "group/project/image:v1") == image.digest
    assert_served_exactly(registry_view, "group/project/image", "v1", image)

    # The metadata is in the database's tables, and none in the data directory.
    assert not (server.data / "meta").exists()
    with psycopg.connect(metadata_url) as conn:
        tagged = conn.execute(
            "SELECT t.digest FROM tags t JOIN repositories r ON r.id = t.repository_id WHERE r.name = %s AND t.name = %s",
            ("group/project/image", "v1"),
        ).fetchone()
        linked = conn.execute("SELECT count(*) FROM links").fetchone()
    assert tagged == (image.digest,) and linked == (1 + len(image.layers),)  # the config and each layer

    server.stop()
    server.start()

    assert_served_exactly(registry_view, "group/project/image", "v1", image)
    assert registry_view.tags("group/project/image") == ["v1"]
    pulled = sandbox.work / "pulled"
    skopeo("copy", "--preserve-digests", "--src-tls-verify=false", sandbox.docker("group/project/image:v1"), f"oci:{pulled}:v1")
    copied = Layout(pulled).image("v1")
    assert (copied.digest, copied.manifest, copied.config, copied.layers) == (
        image.digest,
        image.manifest,
        image.config,
        image.layers,
    )

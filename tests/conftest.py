"""Fixtures shared by the test modules (the `tinyreg` registry fixtures come from tinyreg's pytest plugin)."""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from tinyreg.testing import RunningRegistry, run_registry

from tests.auth_helpers import AuthWorld
from tests.helpers import api_client
from tests.mirror_helpers import Distribution, distribution
from tests.notify_helpers import Receiver
from tests.servers.ceph import ceph_rgw  # noqa: F401  # the session's S3 gateway, for whichever tests ask
from tests.servers.postgres import PostgresCluster, PostgresMissing


@pytest.fixture
def api(tinyreg: RunningRegistry) -> Iterator[httpx.Client]:
    """An HTTP client for a fresh registry; it checks the API version header of every response."""
    with api_client(tinyreg.url) as client:
        yield client


@pytest.fixture(scope="module")
def auth_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthWorld]:
    """One registry with `--auth` (and its access log on) per test module, with `AuthWorld`'s cast."""
    with run_registry(tmp_path_factory.mktemp("auth-world"), auth=True, access_log=True) as registry:
        yield AuthWorld.build(registry)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A receiver of event notifications on 127.0.0.1, started (stop and start it again on the same port at will)."""
    started = Receiver().start()
    yield started
    started.stop()


@pytest.fixture
def upstream(tmp_path: Path) -> Iterator[Distribution]:
    """Distribution's `docker-registry` on 127.0.0.1, its access log on: an upstream for the pull-through cache."""
    with distribution(tmp_path / "upstream") as running:
        yield running


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[PostgresCluster]:
    """A PostgreSQL cluster of this session's own (see tests/servers/postgres.py), started on first use.

    Without PostgreSQL on the machine the tests that need it skip, loudly; with CI=true they fail.
    """
    try:
        cluster = PostgresCluster().start()
    except PostgresMissing as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true and {exc}")
        warnings.warn(f"SKIPPING the PostgreSQL tests: {exc}", stacklevel=1)
        pytest.skip(f"PostgreSQL tests skipped: {exc}")
    try:
        yield cluster
    finally:
        cluster.stop()

"""Fixtures shared by the test modules (the `tinyreg` registry fixtures come from tinyreg's pytest plugin)."""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator

import httpx
import pytest
from tinyreg.testing import RunningRegistry, run_registry

from tests.auth_helpers import AuthWorld
from tests.helpers import api_client
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

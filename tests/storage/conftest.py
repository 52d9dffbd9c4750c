"""The conformance suite's fixture: every test runs against each storage implementation."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .backends import KINDS, Backend, open_backend, postgresql_location


@pytest.fixture(params=KINDS)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    """A fresh, empty storage of one implementation (closing it twice is harmless)."""
    database = None
    location = str(tmp_path / "data")
    if request.param.startswith("postgresql"):
        cluster = request.getfixturevalue("postgres_cluster")
        database = cluster.fresh_database()  # a database of its own per test, copied from a migrated template
        location = postgresql_location(location, database)
    opened = open_backend(request.param, location)
    try:
        yield opened
    finally:
        opened.close()
        if database is not None:
            cluster.drop_database(database)

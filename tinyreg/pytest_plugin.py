"""pytest fixtures that give each test a real registry (registered through `pytest11`).

- `tinyreg`: a fresh, empty registry for one test.
- `tinyreg_session`: one registry shared by the whole session.

Both are plain (thread-backed) fixtures, so sync tests and pytest-trio tests can use them.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tinyreg.testing import RunningRegistry, run_registry


@pytest.fixture
def tinyreg(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningRegistry]:
    """A fresh, empty registry on 127.0.0.1 for one test."""
    with run_registry(tmp_path_factory.mktemp("tinyreg")) as registry:
        yield registry


@pytest.fixture(scope="session")
def tinyreg_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningRegistry]:
    """One registry on 127.0.0.1 shared by every test of the session."""
    with run_registry(tmp_path_factory.mktemp("tinyreg-session")) as registry:
        yield registry

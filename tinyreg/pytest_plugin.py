"""pytest fixtures that give each test a real registry (registered through `pytest11`).

- `tinyreg`: a fresh, empty registry for one test; `@pytest.mark.tinyreg(auth=True, ...)`
  passes options (any `run_registry` keyword) to it.
- `tinyreg_factory`: call it to start more registries, each with its own options.
- `tinyreg_session`: one registry shared by the whole session.

All are plain fixtures backed by a thread, so sync tests and pytest-trio tests can use them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any

import pytest

from tinyreg.testing import RunningRegistry, run_registry


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "tinyreg(**options): options for the `tinyreg` fixture, e.g. auth=True")


@pytest.fixture
def tinyreg_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., RunningRegistry]]:
    """Start registries on demand: `tinyreg_factory(auth=True)`; all stop after the test."""
    with ExitStack() as stack:

        def start(**options: Any) -> RunningRegistry:
            data_dir = options.pop("data_dir", None) or tmp_path_factory.mktemp("tinyreg")
            return stack.enter_context(run_registry(data_dir, **options))

        yield start


@pytest.fixture
def tinyreg(request: pytest.FixtureRequest, tinyreg_factory: Callable[..., RunningRegistry]) -> RunningRegistry:
    """A fresh, empty registry on 127.0.0.1 for one test (options from `@pytest.mark.tinyreg`)."""
    marker = request.node.get_closest_marker("tinyreg")
    return tinyreg_factory(**(marker.kwargs if marker else {}))


@pytest.fixture(scope="session")
def tinyreg_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningRegistry]:
    """One registry on 127.0.0.1 shared by every test of the session."""
    with run_registry(tmp_path_factory.mktemp("tinyreg-session")) as registry:
        yield registry

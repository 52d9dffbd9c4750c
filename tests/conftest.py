"""Fixtures shared by the test modules (the `tinyreg` registry fixtures come from tinyreg's pytest plugin)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from helpers import api_client

from tinyreg.testing import RunningRegistry


@pytest.fixture
def api(tinyreg: RunningRegistry) -> Iterator[httpx.Client]:
    """An HTTP client for a fresh registry; it checks the API version header of every response."""
    with api_client(tinyreg.url) as client:
        yield client

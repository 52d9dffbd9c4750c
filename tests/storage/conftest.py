"""The conformance suite's fixture: every test runs against each storage implementation."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .backends import KINDS, Backend, open_backend


@pytest.fixture(params=KINDS)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    """A fresh, empty storage of one implementation (closing it twice is harmless)."""
    opened = open_backend(request.param, str(tmp_path / "data"))
    try:
        yield opened
    finally:
        opened.close()

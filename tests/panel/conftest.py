"""Fixtures of the panel's tests: a registry with --auth and a cast, a real browser, screenshots.

The browser is Debian's chromium driven by Playwright. A missing chromium (or Playwright) fails
the tests on CI (`CI=true`) and skips them, loudly, everywhere else.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tinyreg.testing import run_registry

from tests.auth_helpers import AuthWorld
from tests.helpers import require_tool
from tests.panel.browsing import Shots

INSTALL_HINT = "apt-get install -y chromium; pip install playwright"


def require(condition: bool, what: str) -> None:
    """Fail (on CI) or skip (elsewhere) a test whose browser is unavailable."""
    require_tool(condition, what, kind="BROWSER", install=INSTALL_HINT)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Headless chromium (TINYREG_CHROMIUM, else `chromium` on PATH), shared by the session."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        require(False, "the playwright Python package is not installed")
    executable = os.environ.get("TINYREG_CHROMIUM") or shutil.which("chromium")
    require(executable is not None and Path(executable).exists(), f"no chromium at {executable or '`chromium` on PATH'}")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, headless=True, args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh browser page (its own cookies) at a desktop size; dialogs are accepted."""
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    context.set_default_timeout(30_000)
    opened = context.new_page()
    opened.on("dialog", lambda dialog: dialog.accept())
    yield opened
    context.close()


@pytest.fixture(scope="session")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Shots:
    """Screenshots of pages at desktop and phone widths, into TINYREG_SCREENSHOTS (else a temporary directory)."""
    configured = os.environ.get("TINYREG_SCREENSHOTS")
    directory = Path(configured) if configured else tmp_path_factory.mktemp("screenshots")
    directory.mkdir(parents=True, exist_ok=True)
    return Shots(directory)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthWorld]:
    """A registry with --auth and `AuthWorld`'s cast, one per test module."""
    with run_registry(tmp_path_factory.mktemp("panel-world"), auth=True) as registry:
        yield AuthWorld.build(registry)

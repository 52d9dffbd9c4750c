"""Helpers of the panel's tests: signing in (browser or plain HTTP), forms' CSRF tokens, screenshots."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

DESKTOP = {"width": 1280, "height": 860}
PHONE = {"width": 390, "height": 844}


@dataclass(frozen=True)
class Shots:
    """Where screenshots go; `take` saves a page at desktop and at phone width."""

    directory: Path

    def take(self, page: Any, name: str) -> None:
        for label, size in (("desktop", DESKTOP), ("phone", PHONE)):
            page.set_viewport_size(size)
            page.screenshot(path=str(self.directory / f"{name}-{label}.png"), full_page=True)
        page.set_viewport_size(DESKTOP)


def sign_in(page: Any, url: str, username: str, password: str) -> None:
    """Sign in through the form; fails unless the panel then shows the user's name."""
    page.goto(f"{url}/users/sign_in")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]:has-text('Sign in')")
    page.wait_for_selector(f"header a:has-text('{username}')")


def csrf_token(html: str) -> str:
    """The CSRF token of the first form of a page."""
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found is not None, f"no CSRF token in {html[:500]}"
    return found.group(1)


class PanelClient:
    """A plain HTTP client of the panel keeping its cookies, as a browser without JavaScript."""

    def __init__(self, url: str) -> None:
        self.http = httpx.Client(base_url=url, timeout=60, follow_redirects=False)

    def csrf(self, path: str = "/users/sign_in") -> str:
        response = self.http.get(path)
        assert response.status_code == 200, response.text[:500]
        return csrf_token(response.text)

    def sign_in(self, username: str, password: str) -> httpx.Response:
        return self.http.post(
            "/users/sign_in", data={"csrf_token": self.csrf(), "username": username, "password": password, "next": "/"}
        )

    def signed_in(self, username: str, password: str) -> PanelClient:
        response = self.sign_in(username, password)
        assert response.status_code == 303, f"sign-in of {username}: {response.status_code} {response.text[:500]}"
        return self

    def post(self, path: str, data: dict[str, Any], *, csrf_from: str = "/") -> httpx.Response:
        """POST a form as a page would, with the session's CSRF token."""
        return self.http.post(path, data={"csrf_token": self.csrf(csrf_from), **data})

    def close(self) -> None:
        self.http.close()

"""The admin area's mirrors page in a real browser: cached images with size and hit rate, and
a purge; other users do not see it."""

from __future__ import annotations

from typing import Any

import httpx
from tinyreg import samples
from tinyreg.registry.mirrors import Mirror
from tinyreg.testing import run_registry

from tests.mirror_helpers import Distribution, push_sample
from tests.panel.browsing import PanelClient, Shots, sign_in
from tests.processes import wait_until


def _mirrors_page(url: str) -> str:
    admin = PanelClient(url).signed_in("root", "root-password-1")
    try:
        return admin.http.get("/admin/mirrors").text
    finally:
        admin.close()


def test_admins_see_cached_images_and_purge_them(page: Any, shots: Shots, upstream: Distribution) -> None:
    push_sample(upstream.url, "library/alpine", "3.19", samples.image(seed="panel"))
    with run_registry(auth=True, mirrors=(Mirror("hub", upstream.url, size_limit=10**9),)) as cache:
        cache.create_user("root", "root-password-1", admin=True)
        cache.create_user("dev", "dev-password-1")
        login = httpx.BasicAuth("dev", "dev-password-1")
        for _ in range(2):
            assert httpx.get(f"{cache.url}/v2/hub/library/alpine/manifests/3.19", auth=login).status_code == 200
        wait_until(lambda: "50&nbsp;%" in _mirrors_page(cache.url), "the hit counted (written about once a second)", interval=0.3)
        developer = PanelClient(cache.url).signed_in("dev", "dev-password-1")
        assert developer.http.get("/admin/mirrors").status_code == 404
        assert developer.post("/admin/mirrors/purge", {"repository": "hub/library/alpine", "confirmed": "yes"}).status_code == 404
        developer.close()
        sign_in(page, cache.url, "root", "root-password-1")
        page.goto(f"{cache.url}/admin/mirrors")
        row = page.locator("tr", has_text="hub/library/alpine")
        assert "3.19" in row.inner_text() and "50\u00a0%" in row.inner_text()  # one miss, one hit
        assert upstream.url in page.inner_text("main")
        shots.take(page, "admin-mirrors")
        row.locator("button:has-text('Purge')").click()
        page.click("button:has-text('Yes')")
        page.wait_for_selector("text=Saved: purged hub/library/alpine")
        assert page.locator("tr", has_text="hub/library/alpine").count() == 0

"""Moving from the panel over plain HTTP: the settings page's and the repository page's forms,
with CSRF and a typed confirmation; the policy refuses a forged form as it refuses the button."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tinyreg.testing import run_registry

from tests.auth_helpers import AuthWorld
from tests.panel.browsing import PanelClient


@pytest.fixture
def world(tmp_path: Path) -> Iterator[AuthWorld]:
    with run_registry(tmp_path / "data", auth=True) as registry:
        built = AuthWorld.build(registry)
        yield built


def client(world: AuthWorld, who: str) -> PanelClient:
    return PanelClient(world.url).signed_in(who, world.PASSWORDS[who])


def test_a_maintainer_moves_a_project_from_its_settings_page(world: AuthWorld) -> None:
    alice = client(world, "alice")
    page = alice.http.get("/team/app/-/settings").text
    assert 'action="/team/app/-/settings/move"' in page and "still answers pulls" in page
    unconfirmed = alice.post("/team/app/-/settings/move", {"new_path": "team/web", "confirm_path": "team/ap"})
    assert unconfirmed.status_code == 400 and "type its current path exactly" in unconfirmed.text
    moved = alice.post("/team/app/-/settings/move", {"new_path": "team/web", "confirm_path": "team/app"})
    assert moved.status_code == 303 and moved.headers["location"] == "/team/web/-/settings?saved=moved"
    assert "Moved: this is its new path." in alice.http.get(moved.headers["location"]).text
    assert world.pull_status("team/web", world.login("alice")) == 200
    assert world.pull_status("team/web/api", world.login("alice")) == 200
    elsewhere = alice.post("/team/web/-/settings/move", {"new_path": "pub/web", "confirm_path": "team/web"})
    assert elsewhere.status_code == 403 and "needs the maintainer role" in elsewhere.text  # no role in group pub
    world.registry.create_project("team/other")
    taken = alice.post("/team/web/-/settings/move", {"new_path": "team/other", "confirm_path": "team/web"})
    assert taken.status_code == 400 and "project team/other exists" in taken.text
    alice.close()


def test_a_forged_move_form_from_a_reporter_is_refused(world: AuthWorld) -> None:
    bob = client(world, "bob")
    assert 'settings/move"' not in bob.http.get("/team/app/api/-/tags").text
    forged = bob.post("/team/app/-/settings/move", {"new_path": "team/web", "confirm_path": "team/app"})
    assert forged.status_code == 403
    forged = bob.post("/team/app/api/-/move", {"new_path": "team/app/x", "confirm_path": "team/app/api"})
    assert forged.status_code == 403
    no_csrf = bob.http.post("/team/app/api/-/move", data={"new_path": "team/app/x", "confirm_path": "team/app/api"})
    assert no_csrf.status_code == 403
    assert world.pull_status("team/app/api", world.login("alice")) == 200
    bob.close()


def test_a_maintainer_renames_a_repository_from_its_page(world: AuthWorld) -> None:
    alice = client(world, "alice")
    assert 'action="/team/app/api/-/move"' in alice.http.get("/team/app/api/-/tags").text
    moved = alice.post("/team/app/api/-/move", {"new_path": "team/app/backend", "confirm_path": "team/app/api"})
    assert moved.status_code == 303 and moved.headers["location"] == "/team/app/backend/-/tags"
    assert world.pull_status("team/app/backend", world.login("alice")) == 200
    outside = alice.post("/team/app/backend/-/move", {"new_path": "carol/box/backend", "confirm_path": "team/app/backend"})
    assert outside.status_code == 403 and "maintainer role in project team/app and in project carol/box" in outside.text
    alice.close()

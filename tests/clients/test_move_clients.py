"""skopeo, podman and buildah against a moved project: logged in with a personal access token or a
deploy token made before the move, they pull and push by the new name, pull by the old one (a
read-only alias) and are refused a push there with a message naming the new path."""

from __future__ import annotations

import pytest
from tinyreg.testing import RunningRegistry

from tests.auth_helpers import admin_ok

from .test_auth_clients import CREDENTIALS, LoginClient, must, must_fail, served_digest
from .test_auth_clients import client as client  # noqa: F401 - the fixtures, shared with that module
from .test_auth_clients import tinyreg as tinyreg  # noqa: F401

pytestmark = pytest.mark.clients


@pytest.mark.parametrize("kind", ["personal token", "deploy token"])
def test_clients_follow_a_moved_project(client: LoginClient, tinyreg: RunningRegistry, kind: str) -> None:  # noqa: F811
    tinyreg.create_group("moved")
    must(client.login(*CREDENTIALS[kind](tinyreg)))  # made for team/app, before the move
    must(client.push("team/app:before"))
    before = client.pushed_digest()
    moved = admin_ok(tinyreg.data_dir, "project", "move", "team/app", "moved/app")
    assert moved["repositories"] == {"team/app": "moved/app"}

    must(client.pull("moved/app:before"))
    assert served_digest(tinyreg, "moved/app", "before") == before
    must(client.push("moved/app:after"))
    assert served_digest(tinyreg, "moved/app", "after") == client.pushed_digest()

    must(client.pull("team/app:base"))  # the old name still answers pulls
    refused = must_fail(client.push("team/app:old-name"))
    assert "moved to moved/app" in refused.stderr, refused.describe()
    assert served_digest(tinyreg, "moved/app", "old-name") is None

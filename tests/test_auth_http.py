"""Token authentication over HTTP (`--auth`): challenges, `GET /token`, bearer and Basic credentials.

One registry serves the module, with `AuthWorld`'s cast; tests that change the access model use
names of their own.
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

import pytest
from tinyreg.access.jwt import KeyRing
from tinyreg.testing import run_registry

from tests.auth_helpers import (
    AuthWorld,
    admin_ok,
    basic_auth,
    bearer_auth,
    challenge_params,
    get_token,
    granted_access,
    jwt_sections,
    token_for,
)
from tests.helpers import assert_error, digest_of, make_blob, push_blob, raw_request
from tests.manifest_builders import OCI_MANIFEST, push_image


@pytest.fixture
def world(auth_world: AuthWorld) -> AuthWorld:
    return auth_world


# -- the challenge -------------------------------------------------------------------------


def test_the_base_endpoint_challenges_anonymous_callers_with_realm_and_service(world: AuthWorld) -> None:
    with world.client() as api:
        response = api.get("/v2/")
    assert_error(response, 401, "UNAUTHORIZED")
    assert response.headers["WWW-Authenticate"] == f'Bearer realm="{world.url}/token",service="tinyreg"'


@pytest.mark.parametrize(
    "host",
    [
        'evil.example",service="other",scope="x',
        "evil.example\\",
        "evil.example/steal?",
        "evil.example:80@other.example",
        "two words",
        "",
    ],
)
def test_a_malformed_host_header_is_not_copied_into_the_challenge(world: AuthWorld, host: str) -> None:
    response = raw_request(world.url, "GET", "/v2/", headers={"Host": host})
    assert_error(response, 401, "UNAUTHORIZED")
    assert challenge_params(response) == {"realm": f"{world.url}/token", "service": "tinyreg"}


def test_a_well_formed_host_header_names_the_realm(world: AuthWorld) -> None:
    for host in ("registry.example.com:5000", "[::1]:5000", "10.1.2.3"):
        response = raw_request(world.url, "GET", "/v2/", headers={"Host": host})
        assert challenge_params(response)["realm"] == f"http://{host}/token"


def test_a_configured_realm_is_announced_quoted_whatever_the_host(tmp_path: Path) -> None:
    realm = 'https://auth.example/token?note="quoted"\\end'
    with run_registry(tmp_path / "data", auth=True, realm=realm, service='svc "one"') as registry:
        response = raw_request(registry.url, "GET", "/v2/team/app/manifests/v1", headers={"Host": "elsewhere.example"})
    assert_error(response, 401, "UNAUTHORIZED")
    assert challenge_params(response) == {"realm": realm, "service": 'svc "one"', "scope": "repository:team/app:pull"}


@pytest.mark.parametrize(
    ("method", "path", "scope"),
    [
        ("GET", "/v2/team/app/manifests/v1", "repository:team/app:pull"),
        ("GET", "/v2/team/app/tags/list", "repository:team/app:pull"),
        ("GET", "/v2/team/app/blobs/sha256:" + "0" * 64, "repository:team/app:pull"),
        ("POST", "/v2/team/app/blobs/uploads/", "repository:team/app:pull,push"),
        ("PUT", "/v2/team/app/manifests/v2", "repository:team/app:pull,push"),
        ("DELETE", "/v2/team/app/manifests/v1", "repository:team/app:delete"),
    ],
)
def test_a_repository_request_is_challenged_with_the_scope_it_needs(world: AuthWorld, method: str, path: str, scope: str) -> None:
    with world.client() as api:
        response = api.request(method, path, content=b"{}" if method == "PUT" else None)
    assert_error(response, 401, "UNAUTHORIZED")
    assert response.headers["WWW-Authenticate"] == f'Bearer realm="{world.url}/token",service="tinyreg",scope="{scope}"'


# -- GET /token ----------------------------------------------------------------------------


def test_the_token_endpoint_answers_with_a_signed_token_for_basic_credentials(world: AuthWorld) -> None:
    response = get_token(world.url, ["repository:team/app:pull,push", "repository:pub/site:pull"], world.login("alice"))
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["token"] == body["access_token"]
    assert isinstance(body["expires_in"], int) and body["expires_in"] >= 60
    header, claims = jwt_sections(body["token"])
    assert header["alg"] == "EdDSA" and header["typ"] == "JWT" and header["kid"]
    assert {"iss", "sub", "aud", "exp", "nbf", "iat", "jti", "access"} <= claims.keys()
    assert (claims["sub"], claims["aud"], claims["iss"]) == ("alice", "tinyreg", "tinyreg")
    assert claims["exp"] - claims["iat"] == body["expires_in"]
    assert claims["nbf"] <= claims["iat"]
    issued = datetime.fromisoformat(body["issued_at"].replace("Z", "+00:00"))
    assert issued.utcoffset() is not None and abs(issued.timestamp() - claims["iat"]) < 1
    keys = KeyRing(world.registry.data_dir / "keys", max_token_age=86400)
    assert keys.verify(body["token"], audience="tinyreg", issuer="tinyreg") == claims


def test_each_token_has_its_own_id(world: AuthWorld) -> None:
    ids = {jwt_sections(token_for(world.url, [], world.login("bob")))[1]["jti"] for _ in range(3)}
    assert len(ids) == 3


@pytest.mark.parametrize(
    ("who", "scopes", "expected"),
    [
        ("alice", ["repository:team/app:pull,push,delete"], {"team/app": ["delete", "pull", "push"]}),
        ("alice", ["repository:team/app/api:*"], {"team/app/api": ["delete", "pull", "push"]}),
        ("bob", ["repository:team/app:pull,push,delete"], {"team/app": ["pull"]}),
        ("bob", ["repository:team/app:push", "repository:pub/site:pull,push"], {"team/app": [], "pub/site": ["pull"]}),
        (
            "carol",
            ["repository:team/app:pull", "repository:carol/box:pull,push"],
            {"team/app": [], "carol/box": ["pull", "push"]},
        ),
        ("carol", ["repository:loose/repo:pull"], {"loose/repo": []}),
        (
            "root",
            ["repository:loose/repo:pull,push", "repository:carol/box:delete"],
            {"loose/repo": [], "carol/box": ["delete"]},
        ),
        (None, ["repository:pub/site:pull,push"], {"pub/site": ["pull"]}),
        (None, ["repository:team/app:pull"], {"team/app": []}),
    ],
)
def test_a_token_grants_the_intersection_of_what_is_asked_and_what_is_allowed(
    world: AuthWorld, who: str | None, scopes: list[str], expected: dict[str, list[str]]
) -> None:
    found = granted_access(get_token(world.url, scopes, world.login(who) if who else None))
    assert {name: sorted(actions) for name, actions in found.items()} == expected


def test_an_anonymous_token_names_no_subject_and_lets_anonymous_pull_public_content(world: AuthWorld) -> None:
    token = token_for(world.url, ["repository:pub/site:pull"])
    assert jwt_sections(token)[1]["sub"] == ""
    assert world.pull_status("pub/site", bearer_auth(token)) == 200
    assert world.pull_status("pub/site") == 200
    assert world.pull_status("team/app", bearer_auth(token_for(world.url, ["repository:team/app:pull"]))) == 401


def test_a_bearer_token_serves_pulls_and_pushes_it_grants(world: AuthWorld) -> None:
    token = token_for(world.url, ["repository:team/app:pull,push"], world.login("alice"))
    with world.client(bearer_auth(token)) as api:
        response = api.get("/v2/team/app/manifests/v1", headers={"Accept": OCI_MANIFEST})
        assert response.status_code == 200
        assert response.headers["Docker-Content-Digest"] == world.digests["team/app"] == digest_of(response.content)
        pushed = push_image(api, "team/app", "by-bearer", seed="bearer push")
        assert api.head(f"/v2/team/app/manifests/{pushed.digest}").status_code == 200


@pytest.mark.parametrize(
    ("who", "scopes", "method", "path", "needed", "status"),
    [
        ("alice", ["repository:team/app:pull"], "POST", "/v2/team/app/blobs/uploads/", "repository:team/app:pull,push", 403),
        ("alice", ["repository:team/app:pull"], "DELETE", "/v2/team/app/manifests/v1", "repository:team/app:delete", 403),
        ("alice", ["repository:team/app:pull"], "GET", "/v2/team/app/api/manifests/v1", "repository:team/app/api:pull", 403),
        ("alice", [], "GET", "/v2/team/app/manifests/v1", "repository:team/app:pull", 403),
        ("bob", ["repository:team/app:pull"], "POST", "/v2/team/app/blobs/uploads/", "repository:team/app:pull,push", 401),
        ("carol", [], "GET", "/v2/team/app/manifests/v1", "repository:team/app:pull", 401),
    ],
)
def test_a_token_lacking_the_scope_gets_insufficient_scope(
    world: AuthWorld, who: str, scopes: list[str], method: str, path: str, needed: str, status: int
) -> None:
    """403 when the subject may be granted the scope (oras-py asks for a new token only then), else 401."""
    token = token_for(world.url, scopes, world.login(who))
    with world.client(bearer_auth(token)) as api:
        response = api.request(method, path)
    assert_error(response, status, "DENIED" if status == 403 else "UNAUTHORIZED")
    assert challenge_params(response) == {
        "realm": f"{world.url}/token",
        "service": "tinyreg",
        "scope": needed,
        "error": "insufficient_scope",
    }


# -- Basic credentials straight to /v2/ ------------------------------------------------------


def test_basic_credentials_work_on_the_api_directly(world: AuthWorld) -> None:
    with world.client(world.login("bob")) as api:
        assert api.get("/v2/").status_code == 200
        assert api.get("/v2/team/app/manifests/v1", headers={"Accept": OCI_MANIFEST}).status_code == 200
        assert_error(api.post("/v2/team/app/blobs/uploads/"), 403, "DENIED")
        assert_error(api.get("/v2/carol/box/manifests/v1"), 403, "DENIED")


@pytest.mark.parametrize(
    "headers",
    [
        basic_auth("alice", "wrong-password"),
        basic_auth("nobody", "whatever-password"),
        basic_auth("alice", ""),
        {"Authorization": "Basic !!!not-base64"},
    ],
    ids=["wrong-password", "unknown-user", "empty-password", "garbage"],
)
def test_wrong_credentials_are_refused_on_the_api_and_the_token_endpoint(world: AuthWorld, headers: dict[str, str]) -> None:
    with world.client(headers) as api:
        response = api.get("/v2/team/app/manifests/v1")
    assert_error(response, 401, "UNAUTHORIZED")
    assert challenge_params(response)["realm"] == f"{world.url}/token"
    assert get_token(world.url, ["repository:pub/site:pull"], headers).status_code == 401
    assert world.pull_status("team/app", world.login("alice")) == 200


# -- personal access tokens and deploy tokens ----------------------------------------------


def test_a_tokens_only_user_cannot_use_a_password_but_their_personal_token_works(world: AuthWorld) -> None:
    world.registry.create_user("tina", "tina-password-1234")
    world.registry.create_project("tina/proj", owner="tina")
    pat = world.registry.create_token("tina", ["read_registry", "write_registry"])
    admin_ok(world.registry.data_dir, "user", "update", "tina", "--tokens-only", "on")
    password = basic_auth("tina", "tina-password-1234")
    assert get_token(world.url, ["repository:tina/proj:pull"], password).status_code == 401
    assert world.pull_status("tina/proj", password) == 401
    assert granted_access(get_token(world.url, ["repository:tina/proj:pull,push"], basic_auth("tina", pat))) == {
        "tina/proj": ["pull", "push"]
    }
    with world.client(basic_auth("tina", pat)) as api:
        push_image(api, "tina/proj", "v1", seed="tina")


def test_a_read_only_personal_token_pulls_but_cannot_push(world: AuthWorld) -> None:
    pat = basic_auth("alice", world.registry.create_token("alice", ["read_registry"]))
    assert world.pull_status("team/app", pat) == 200
    assert granted_access(get_token(world.url, ["repository:team/app:pull,push,delete"], pat)) == {"team/app": ["pull"]}
    with world.client(pat) as api:
        assert_error(api.post("/v2/team/app/blobs/uploads/"), 403, "DENIED")


@pytest.mark.parametrize("username", ["bob", "tinyreg+deploy-token-1", ""])
def test_a_personal_token_only_works_with_its_owners_name(world: AuthWorld, username: str) -> None:
    pat = world.registry.create_token("alice", ["read_registry"])
    assert world.pull_status("team/app", basic_auth(username, pat)) == 401


def test_an_expired_personal_token_is_refused(world: AuthWorld) -> None:
    pat = basic_auth("alice", world.registry.create_token("alice", ["read_registry"], expires_in=-1))
    assert world.pull_status("team/app", pat) == 401
    assert get_token(world.url, ["repository:team/app:pull"], pat).status_code == 401


def test_revoking_a_personal_token_stops_the_registry_tokens_issued_for_it_at_once(world: AuthWorld) -> None:
    pat = basic_auth("alice", world.registry.create_token("alice", ["read_registry"], name="to-revoke"))
    bearer = bearer_auth(token_for(world.url, ["repository:team/app:pull"], pat))
    assert world.pull_status("team/app", bearer) == 200
    [record] = [t for t in admin_ok(world.registry.data_dir, "token", "list", "alice") if t["name"] == "to-revoke"]
    admin_ok(world.registry.data_dir, "token", "revoke", str(record["id"]))
    with world.client(bearer) as api:
        response = api.get("/v2/team/app/manifests/v1")
    assert_error(response, 401, "UNAUTHORIZED")
    assert challenge_params(response)["error"] == "invalid_token"
    assert world.pull_status("team/app", pat) == 401


def test_a_token_of_one_project_or_user_does_not_open_another_project(world: AuthWorld) -> None:
    deploy_user, deploy_secret = world.registry.create_deploy_token("team/app", ["read_registry", "write_registry"])
    deploy = basic_auth(deploy_user, deploy_secret)
    carol_pat = basic_auth("carol", world.registry.create_token("carol"))
    assert world.pull_status("carol/box", deploy) == 403
    assert world.pull_status("team/app", carol_pat) == 403
    assert granted_access(get_token(world.url, ["repository:carol/box:pull"], deploy)) == {"carol/box": []}
    assert granted_access(get_token(world.url, ["repository:team/app:pull"], carol_pat)) == {"team/app": []}


def test_a_deploy_token_logs_in_with_its_generated_user_name(world: AuthWorld) -> None:
    read_user, read_secret = world.registry.create_deploy_token("team/app", ["read_registry"])
    write_user, write_secret = world.registry.create_deploy_token("team/app", ["read_registry", "write_registry"])
    for user in (read_user, write_user):
        assert re.fullmatch(r"tinyreg\+deploy-token-\d+", user), user
    assert read_user != write_user
    assert world.pull_status("team/app", basic_auth(read_user, read_secret)) == 200
    assert world.pull_status("team/app", basic_auth(write_user, read_secret)) == 401
    assert world.pull_status("team/app", basic_auth("alice", read_secret)) == 401
    assert granted_access(get_token(world.url, ["repository:team/app:pull,push"], basic_auth(read_user, read_secret))) == {
        "team/app": ["pull"]
    }
    with world.client(basic_auth(write_user, write_secret)) as api:
        push_image(api, "team/app/deployed", "v1", seed="deploy token push")


def test_a_project_with_its_registry_off_refuses_everyone(world: AuthWorld) -> None:
    world.registry.create_project("off/app", public=True, owner="alice")
    world.registry.push_image("off/app", "v1")
    assert world.pull_status("off/app") == 200
    admin_ok(world.registry.data_dir, "project", "update", "off/app", "--registry", "off")
    assert world.pull_status("off/app") == 401
    assert world.pull_status("off/app", world.login("alice")) == 403
    assert world.pull_status("off/app", world.login("root")) == 403
    assert granted_access(get_token(world.url, ["repository:off/app:pull,push"], world.login("root"))) == {"off/app": []}


# -- the catalog and cross-repository mounts -----------------------------------------------


@pytest.mark.parametrize(
    ("who", "expected"),
    [
        ("bob", ["pub/site", "team/app", "team/app/api"]),
        ("carol", ["carol/box", "pub/site"]),
        ("root", sorted(set(AuthWorld.REPOS) - {"loose/repo"})),
    ],
)
def test_the_catalog_lists_only_repositories_the_caller_may_pull(world: AuthWorld, who: str | None, expected: list[str]) -> None:
    with world.client(world.login(who) if who else None) as api:
        response = api.get("/v2/_catalog", params={"n": 1000})
    assert response.status_code == 200, response.text
    assert [name for name in response.json()["repositories"] if name in AuthWorld.REPOS] == expected


def test_the_catalog_with_a_catalog_token_lists_the_repositories_its_subject_may_pull(world: AuthWorld) -> None:
    token = token_for(world.url, ["registry:catalog:*"], world.login("carol"))
    with world.client(bearer_auth(token)) as api:
        response = api.get("/v2/_catalog", params={"n": 1000})
    assert response.status_code == 200, response.text
    assert [name for name in response.json()["repositories"] if name in AuthWorld.REPOS] == ["carol/box", "pub/site"]


def test_an_anonymous_catalog_request_is_challenged_for_the_catalog_scope(world: AuthWorld) -> None:
    with world.client() as api:
        response = api.get("/v2/_catalog")
    assert_error(response, 401, "UNAUTHORIZED")
    assert challenge_params(response) == {"realm": f"{world.url}/token", "service": "tinyreg", "scope": "registry:catalog:*"}


def test_an_anonymous_catalog_token_lists_the_public_repositories(world: AuthWorld) -> None:
    token = token_for(world.url, ["registry:catalog:*"])
    with world.client(bearer_auth(token)) as api:
        response = api.get("/v2/_catalog", params={"n": 1000})
    assert response.status_code == 200, response.text
    assert [name for name in response.json()["repositories"] if name in AuthWorld.REPOS] == ["pub/site"]


def test_a_token_asked_for_no_scope_lists_what_its_subject_may_pull(world: AuthWorld) -> None:
    token = token_for(world.url, [], world.login("bob"))
    with world.client(bearer_auth(token)) as api:
        response = api.get("/v2/_catalog", params={"n": 1000})
    assert response.status_code == 200, response.text
    assert [name for name in response.json()["repositories"] if name in AuthWorld.REPOS] == [
        "pub/site",
        "team/app",
        "team/app/api",
    ]


def test_a_token_without_the_catalog_scope_is_asked_to_get_it(world: AuthWorld) -> None:
    token = token_for(world.url, ["repository:team/app:pull"], world.login("bob"))
    with world.client(bearer_auth(token)) as api:
        response = api.get("/v2/_catalog")
    assert_error(response, 403, "DENIED")
    assert challenge_params(response)["scope"] == "registry:catalog:*"


def test_catalog_pages_with_a_catalog_token_follow_the_link_header_like_the_whole_list(world: AuthWorld) -> None:
    with world.client(world.login("root")) as api:
        whole = api.get("/v2/_catalog", params={"n": 1000}).json()["repositories"]
    token = token_for(world.url, ["registry:catalog:*"], world.login("root"))
    paged: list[str] = []
    with world.client(bearer_auth(token)) as api:
        response = api.get("/v2/_catalog", params={"n": 2})
        for _ in range(len(whole)):
            assert response.status_code == 200, response.text
            assert len(response.json()["repositories"]) <= 2
            paged += response.json()["repositories"]
            if "Link" not in response.headers:
                break
            response = api.get(re.fullmatch(r'<([^>]+)>; rel="next"', response.headers["Link"]).group(1))  # type: ignore[union-attr]
    assert paged == whole
    assert set(AuthWorld.REPOS) - {"loose/repo"} <= set(whole)  # no project owns loose/repo: hidden from all


def test_a_mount_from_a_repository_the_caller_cannot_read_falls_back_to_an_upload(world: AuthWorld) -> None:
    secret_blob = make_blob("only in team/app", 300)
    with world.client(world.login("alice")) as alice:
        digest = push_blob(alice, "team/app", secret_blob)
    with world.client(world.login("carol")) as carol:
        response = carol.post("/v2/carol/box/blobs/uploads/", params={"mount": digest, "from": "team/app"})
        assert response.status_code == 202, response.text
        assert response.headers["Location"]
        assert carol.head(f"/v2/carol/box/blobs/{digest}").status_code == 404
    with world.client(world.login("alice")) as alice:
        response = alice.post("/v2/pub/site/blobs/uploads/", params={"mount": digest, "from": "team/app"})
        assert response.status_code == 201, response.text
        assert alice.get(f"/v2/pub/site/blobs/{digest}").content == secret_blob

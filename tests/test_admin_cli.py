"""`tinyreg user|project|token|deploy-token|keys` run as a person runs them, on a data directory.

Exit codes: 0 done, 1 refused (the request cannot be done), 2 usage error.
"""

from __future__ import annotations

import base64
import json
import re
import stat
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from tinyreg.testing import run_registry

from tests.auth_helpers import admin_ok, basic_auth, bearer_auth, get_token, tinyreg_admin, token_for
from tests.helpers import api_client
from tests.manifest_builders import push_image
from tests.processes import ServerProcess, clean_env, tinyreg_command

PASSWORD = "first-admin-password"


@pytest.fixture
def data(tmp_path: Path) -> Path:
    """A data directory with an admin `root` and a user `alice` (created with the command line)."""
    directory = tmp_path / "data"
    admin_ok(directory, "user", "add", "root", "--admin", "--password-stdin", "--init", stdin=PASSWORD + "\n")
    admin_ok(directory, "user", "add", "alice", "--password-stdin", stdin="alice-password\n")
    return directory


def refused(data: Path, *args: str, stdin: str | None = None) -> str:
    """Run a command that must be refused (exit 1) with a message; return the message."""
    done = tinyreg_admin(data, *args, stdin=stdin)
    assert done.returncode == 1, f"exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    assert done.stderr.startswith("tinyreg: ") and done.stdout == "", done
    return done.stderr


def can_log_in(data: Path, user: str, password: str) -> bool:
    """Whether `GET /token` accepts these credentials on a registry serving `data`."""
    with run_registry(data, auth=True) as registry:
        return get_token(registry.url, [], basic_auth(user, password)).status_code == 200


# -- users -----------------------------------------------------------------------------------


def test_the_first_admin_is_created_without_a_terminal(tmp_path: Path) -> None:
    done = tinyreg_admin(tmp_path / "data", "user", "add", "root", "--admin", "--password-stdin", "--init", stdin=PASSWORD + "\n")
    assert (done.returncode, done.stdout.strip()) == (0, "created user root (admin)"), done.stderr
    [user] = admin_ok(tmp_path / "data", "user", "list")
    assert (user["name"], user["admin"], user["tokens_only"]) == ("root", True, False)
    assert "password" not in user
    assert can_log_in(tmp_path / "data", "root", PASSWORD)


def test_the_data_directory_can_come_from_the_environment(tmp_path: Path) -> None:
    env = clean_env(TINYREG_DATA=str(tmp_path / "from-env"))
    command = tinyreg_command("user", "add", "envuser", "--password-stdin", "--init")
    done = subprocess.run(command, input="password-from-env\n", env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert [u["name"] for u in admin_ok(tmp_path / "from-env", "user", "list")] == ["envuser"]


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (("user", "add", "alice", "--password-stdin"), "another-password\n", "already exists"),
        (("user", "add", "bob"), "", "--password-stdin"),
        (("user", "add", "bob", "--password-stdin"), "short\n", "8 characters"),
        (("user", "add", "_bob", "--password-stdin"), "long-enough-password\n", "invalid user name"),
        (("user", "add", "bo b", "--password-stdin"), "long-enough-password\n", "invalid user name"),
        (("user", "remove", "nobody"), None, "no user"),
        (("user", "update", "nobody", "--admin", "on"), None, "no user"),
        (("user", "passwd", "nobody", "--password-stdin"), "long-enough-password\n", "no user"),
    ],
)
def test_impossible_user_requests_are_refused_with_exit_code_1(
    data: Path, args: tuple[str, ...], stdin: str | None, message: str
) -> None:
    assert message in refused(data, *args, stdin=stdin)


def test_user_list_for_people_and_as_json(data: Path) -> None:
    admin_ok(data, "user", "add", "tokenonly", "--no-password")
    admin_ok(data, "user", "update", "tokenonly", "--tokens-only", "on")
    done = tinyreg_admin(data, "user", "list")
    assert done.returncode == 0
    assert done.stdout.splitlines() == [
        "ID  NAME       ADMIN  TOKENS-ONLY",
        "2   alice      no     no",
        "1   root       yes    no",
        "3   tokenonly  no     yes",
    ]
    listed = {u["name"]: (u["id"], u["admin"], u["tokens_only"]) for u in admin_ok(data, "user", "list")}
    assert listed == {"root": (1, True, False), "alice": (2, False, False), "tokenonly": (3, False, True)}


def test_passwd_changes_the_password_read_from_stdin(data: Path) -> None:
    assert admin_ok(data, "user", "passwd", "alice", "--password-stdin", stdin="a-brand-new-password\n") == {"name": "alice"}
    assert can_log_in(data, "alice", "a-brand-new-password")
    assert not can_log_in(data, "alice", "alice-password")


def test_removing_a_user_revokes_their_tokens(data: Path) -> None:
    created = admin_ok(data, "token", "create", "alice", "--name", "ci", "--scopes", "read_registry")
    assert admin_ok(data, "user", "remove", "alice") == {"removed": "alice"}
    assert [u["name"] for u in admin_ok(data, "user", "list")] == ["root"]
    [record] = admin_ok(data, "token", "list")
    assert (record["id"], record["revoked"]) == (created["id"], True)


# -- projects and members ------------------------------------------------------------------


def test_projects_are_created_listed_and_updated(data: Path) -> None:
    created = admin_ok(data, "project", "create", "group/sub/app", "--owner", "alice")
    assert created == {"path": "group/sub/app", "id": 1, "public": False}
    done = tinyreg_admin(data, "project", "create", "open/site", "--public")
    assert (done.returncode, done.stdout.strip()) == (0, "created public project open/site")
    admin_ok(data, "project", "update", "group/sub/app", "--visibility", "public", "--registry", "off")
    listed = {p["path"]: (p["id"], p["public"], p["registry_enabled"]) for p in admin_ok(data, "project", "list")}
    assert listed == {"group/sub/app": (1, True, False), "open/site": (2, True, True)}
    lines = tinyreg_admin(data, "project", "list").stdout.splitlines()
    assert lines == [
        "ID  PATH           VISIBILITY  REGISTRY  USAGE",
        "1   group/sub/app  public      off       0 B",
        "2   open/site      public      on        0 B",
    ]


@pytest.mark.parametrize(
    ("path", "char", "position"),
    [
        ("group/_app", "_", 7),
        ("Group/app", "G", 1),
        ("group/app-", "-", 10),
        ("group/a pp", " ", 8),
    ],
)
def test_an_invalid_project_path_is_refused_naming_the_character_and_its_position(
    data: Path, path: str, char: str, position: int
) -> None:
    message = refused(data, "project", "create", path)
    assert repr(char) in message and f"position {position}" in message, message
    assert admin_ok(data, "project", "list") == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("project", "create", "team/app"), "already exists"),
        (("project", "create", "other/app", "--owner", "nobody"), "no user"),
        (("project", "update", "no/project", "--visibility", "public"), "no project"),
        (("project", "member", "add", "no/project", "alice", "developer"), "no project"),
        (("project", "member", "add", "team/app", "nobody", "developer"), "no user"),
        (("project", "member", "remove", "team/app", "root"), "not a member"),
    ],
)
def test_impossible_project_requests_are_refused_with_exit_code_1(data: Path, args: tuple[str, ...], message: str) -> None:
    admin_ok(data, "project", "create", "team/app", "--owner", "alice")
    assert message in refused(data, *args)


def test_members_are_added_listed_changed_and_removed(data: Path) -> None:
    admin_ok(data, "project", "create", "team/app", "--owner", "alice")
    admin_ok(data, "user", "add", "bob", "--password-stdin", stdin="bob-password\n")
    done = tinyreg_admin(data, "project", "member", "add", "team/app", "bob", "reporter")
    assert (done.returncode, done.stdout.strip()) == (0, "bob is reporter of team/app")
    assert admin_ok(data, "project", "member", "list", "team/app") == {"alice": "owner", "bob": "reporter"}
    admin_ok(data, "project", "member", "add", "team/app", "bob", "developer")
    assert tinyreg_admin(data, "project", "member", "list", "team/app").stdout.splitlines() == [
        "USER   ROLE",
        "alice  owner",
        "bob    developer",
    ]
    admin_ok(data, "project", "member", "remove", "team/app", "bob")
    assert admin_ok(data, "project", "member", "list", "team/app") == {"alice": "owner"}


# -- tokens ----------------------------------------------------------------------------------


def test_token_create_prints_the_secret_once_with_its_user_name_scopes_and_expiry(data: Path) -> None:
    created = admin_ok(
        data, "token", "create", "alice", "--name", "laptop", "--scopes", "read_registry,write_registry", "--expires-in", "30d"
    )
    assert {"username", "token", "scopes", "expires_at"} <= created.keys()
    assert (created["username"], created["scopes"], created["kind"]) == ("alice", ["read_registry", "write_registry"], "personal")
    assert created["token"].startswith("trp_") and len(created["token"]) > 40
    assert abs(created["expires_at"] - (time.time() + 30 * 86400)) < 120
    listed = admin_ok(data, "token", "list", "alice")
    assert [(t["id"], t["name"], t["revoked"]) for t in listed] == [(created["id"], "laptop", False)]
    assert all("token" not in t for t in listed)
    assert created["token"] not in tinyreg_admin(data, "token", "list").stdout


def test_token_create_for_people_shows_user_name_and_token(data: Path) -> None:
    done = tinyreg_admin(data, "token", "create", "alice", "--name", "ci", "--scopes", "read_registry")
    assert done.returncode == 0, done.stderr
    found = re.fullmatch(r"username: alice\ntoken: +(trp_\S+)\n\(the token is shown only this once\)\n", done.stdout)
    assert found, done.stdout
    assert can_log_in(data, "alice", found.group(1))


def test_revoked_and_expired_tokens_are_listed_as_such_and_stop_working(data: Path) -> None:
    keep = admin_ok(data, "token", "create", "alice", "--name", "keep", "--scopes", "read_registry")
    gone = admin_ok(data, "token", "create", "alice", "--name", "gone", "--scopes", "read_registry")
    admin_ok(data, "token", "create", "alice", "--name", "brief", "--scopes", "read_registry", "--expires-in", "0.001s")
    revoked = admin_ok(data, "token", "revoke", str(gone["id"]))
    assert (revoked["id"], revoked["revoked"]) == (gone["id"], True)
    header, *rows = tinyreg_admin(data, "token", "list", "alice").stdout.splitlines()
    assert header.split() == ["ID", "NAME", "USER", "SCOPES", "EXPIRES", "STATE"]
    assert {row.split()[1]: row.split()[-1] for row in rows} == {"keep": "active", "gone": "revoked", "brief": "expired"}
    assert {row[header.index("STATE") :] for row in rows} == {"active", "revoked", "expired"}  # aligned under the header
    assert can_log_in(data, "alice", keep["token"])
    assert not can_log_in(data, "alice", gone["token"])


# -- groups ---------------------------------------------------------------------------------


def test_groups_are_created_listed_and_given_members(data: Path) -> None:
    assert admin_ok(data, "group", "create", "eng/web", "--public", "--owner", "alice") == {
        "path": "eng/web",
        "id": 2,
        "public": True,
    }
    done = tinyreg_admin(data, "project", "create", "ops/infra/app")
    assert done.returncode == 0, done.stderr
    assert tinyreg_admin(data, "group", "list").stdout.splitlines() == [
        "ID  PATH       VISIBILITY",
        "1   eng        private",
        "2   eng/web    public",
        "3   ops        private",
        "4   ops/infra  private",
    ]
    assert [(g["path"], g["id"]) for g in admin_ok(data, "group", "list")][:2] == [("eng", 1), ("eng/web", 2)]
    done = tinyreg_admin(data, "group", "member", "add", "eng", "root", "maintainer")
    assert (done.returncode, done.stdout.strip()) == (0, "root is maintainer of group eng")
    assert admin_ok(data, "group", "member", "list", "eng/web") == {"alice": "owner"}
    assert tinyreg_admin(data, "group", "member", "list", "eng").stdout.splitlines() == ["USER  ROLE", "root  maintainer"]
    assert admin_ok(data, "group", "member", "remove", "eng", "root") == {"path": "eng", "user": "root"}
    assert tinyreg_admin(data, "group", "member", "list", "eng").stdout.strip() == "no members in group eng"
    assert "no user 'nobody'" in refused(data, "group", "member", "add", "eng", "nobody", "owner")
    assert "group 'eng/web' already exists" in refused(data, "group", "create", "eng/web")
    assert "no group 'nope'" in refused(data, "group", "member", "remove", "nope", "alice")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("token", "create", "nobody", "--name", "x", "--scopes", "read_registry"), "no user"),
        (("token", "create", "alice", "--name", "x", "--scopes", "sudo"), "scopes must be among"),
        (("deploy-token", "create", "no/project", "--name", "x", "--scopes", "read_api"), "scopes must be among"),
        (("token", "revoke", "999"), "no token 999"),
        (("deploy-token", "create", "no/project", "--name", "x", "--scopes", "read_registry"), "no project"),
    ],
)
def test_impossible_token_requests_are_refused_with_exit_code_1(data: Path, args: tuple[str, ...], message: str) -> None:
    assert message in refused(data, *args)


def test_personal_tokens_may_have_the_api_scopes_and_deploy_tokens_may_not(data: Path) -> None:
    created = admin_ok(data, "token", "create", "alice", "--name", "api", "--scopes", "api,read_user,read_api")
    assert created["scopes"] == ["api", "read_api", "read_user"]
    admin_ok(data, "project", "create", "team/app")
    message = refused(data, "deploy-token", "create", "team/app", "--name", "x", "--scopes", "read_registry,api")
    assert "scopes must be among read_registry, write_registry; got read_registry, api" in message


def test_deploy_tokens_belong_to_a_project_and_have_a_generated_user_name(data: Path) -> None:
    admin_ok(data, "project", "create", "team/app")
    created = admin_ok(data, "deploy-token", "create", "team/app", "--name", "ci", "--scopes", "read_registry")
    assert re.fullmatch(r"tinyreg\+deploy-token-\d+", created["username"]) and created["username"].endswith(str(created["id"]))
    assert (created["owner"], created["kind"], created["scopes"], created["expires_at"]) == (
        "team/app",
        "deploy",
        ["read_registry"],
        None,
    )
    assert created["token"].startswith("trd_")
    assert [t["id"] for t in admin_ok(data, "deploy-token", "list", "team/app")] == [created["id"]]
    assert admin_ok(data, "token", "list") == []
    assert can_log_in(data, created["username"], created["token"])


@pytest.mark.parametrize(
    "args",
    [
        ("user",),
        ("user", "frobnicate"),
        ("project", "member", "add", "team/app", "alice", "superuser"),
        ("project", "update", "team/app", "--visibility", "secret"),
        ("token", "create", "alice", "--name", "x"),
        ("token", "create", "alice", "--name", "x", "--scopes", "read_registry", "--expires-in", "soon"),
        ("token", "revoke", "one"),
        ("user", "update", "alice", "--tokens-only", "maybe"),
    ],
)
def test_usage_errors_exit_with_code_2(data: Path, args: tuple[str, ...]) -> None:
    done = tinyreg_admin(data, *args)
    assert done.returncode == 2, done
    assert "usage:" in done.stderr


# -- signing keys, and administering a running registry ------------------------------------


def test_keys_rotate_makes_a_new_private_signing_key(data: Path) -> None:
    with run_registry(data, auth=True):
        pass
    before = {p.name for p in (data / "keys").glob("*.key")}
    kid = admin_ok(data, "keys", "rotate")["kid"]
    assert (data / "keys" / "active").read_text().strip() == kid
    assert {p.name for p in (data / "keys").glob("*.key")} == before | {f"{kid}.key"}
    assert stat.S_IMODE((data / "keys" / f"{kid}.key").stat().st_mode) == 0o600


def test_commands_take_effect_at_once_on_a_registry_serving_the_same_data(data: Path, tmp_path: Path) -> None:
    with ServerProcess(["serve", "--auth", "--port", "0", "--data", str(data)], cwd=tmp_path) as server:
        url = server.wait_listening()
        admin_ok(data, "project", "create", "live/app", "--owner", "alice")
        token = admin_ok(data, "token", "create", "alice", "--name", "live", "--scopes", "read_registry,write_registry")
        pat = basic_auth("alice", token["token"])
        bearer = bearer_auth(token_for(url, ["repository:live/app:pull,push"], pat))
        with api_client(url) as api:
            api.headers.update(bearer)
            pushed = push_image(api, "live/app", "v1", seed="live")
        admin_ok(data, "keys", "rotate")
        with api_client(url) as api:
            assert api.head(f"/v2/live/app/manifests/{pushed.digest}", headers=bearer).status_code == 200
            assert api.head(f"/v2/live/app/manifests/{pushed.digest}", headers=pat).status_code == 200
            admin_ok(data, "token", "revoke", str(token["id"]))
            assert api.head(f"/v2/live/app/manifests/{pushed.digest}", headers=bearer).status_code == 401
            assert api.head(f"/v2/live/app/manifests/{pushed.digest}", headers=pat).status_code == 401
            admin_ok(data, "project", "update", "live/app", "--visibility", "public")
            assert api.head(f"/v2/live/app/manifests/{pushed.digest}").status_code == 200
        server.stop()
        logs = server.text("stderr") + server.text("stdout")
        assert '"HEAD /v2/live/app/manifests/' in logs
        assert token["token"] not in logs and "alice-password" not in logs and bearer["Authorization"][7:] not in logs
        assert json.dumps(token["token"])[1:-1] not in logs


def test_nodes_sharing_a_keys_directory_accept_each_others_tokens_across_a_rotation(data: Path, tmp_path: Path) -> None:
    keys = tmp_path / "shared-keys"
    admin_ok(data, "project", "create", "live/app", "--owner", "alice")
    token = admin_ok(data, "token", "create", "alice", "--name", "nodes", "--scopes", "read_registry,write_registry")
    pat = basic_auth("alice", token["token"])
    args = ["serve", "--auth", "--port", "0", "--data", str(data), "--keys-dir", str(keys)]
    with ServerProcess(args, cwd=tmp_path) as first, ServerProcess(args, cwd=tmp_path) as second:
        urls = first.wait_listening(), second.wait_listening()

        def pull_with_a_token_of(signer: str, checker: str) -> str:
            bearer = token_for(signer, ["repository:live/app:pull"], pat)
            assert httpx.get(f"{checker}/v2/live/app/tags/list", headers=bearer_auth(bearer)).status_code in (200, 404)
            assert httpx.get(f"{checker}/v2/live/app/tags/list", headers=bearer_auth(bearer + "x")).status_code == 401
            return json.loads(base64.urlsafe_b64decode(bearer.split(".")[0] + "=="))["kid"]

        kid = pull_with_a_token_of(urls[0], urls[1])
        assert (keys / f"{kid}.key").exists() and not (data / "keys").exists()
        rotated = tinyreg_admin(data, "keys", "rotate", "--keys-dir", str(keys), "--json")
        assert rotated.returncode == 0, rotated.stderr
        new_kid = json.loads(rotated.stdout)["kid"]
        assert pull_with_a_token_of(urls[1], urls[0]) == new_kid != kid

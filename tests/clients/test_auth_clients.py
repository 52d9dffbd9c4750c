"""skopeo, podman, buildah and oras-py against a registry with `--auth`: log in, push, pull, log out.

The registry of each test: root (admin); alice owns the private `team/app` and the public
`pub/site`; bob is a reporter of `team/app`; carol owns the private `other/app`. Each of the
three command-line tools logs in with a password, a personal access token or a deploy token.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from tinyreg.testing import RunningRegistry, run_registry

from tests.auth_helpers import admin_ok, basic_auth

from .tools import OCI_MANIFEST, Layout, Result, Sandbox, Tool, buildah_scratch_image, random_files

pytestmark = pytest.mark.clients

PASSWORDS = {name: f"{name}-client-passphrase" for name in ("root", "alice", "bob", "carol")}
TOOLS = ("skopeo", "podman", "buildah")


@pytest.fixture
def tinyreg(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningRegistry]:
    """A fresh registry with the access model on, its users and projects (see the module doc)."""
    with run_registry(tmp_path_factory.mktemp("tinyreg-auth"), auth=True) as registry:
        for name, password in PASSWORDS.items():
            registry.create_user(name, password, admin=name == "root")
        registry.create_project("team/app", owner="alice")
        registry.add_member("team/app", "bob", "reporter")
        registry.create_project("pub/site", public=True, owner="alice")
        registry.create_project("other/app", owner="carol")
        for repo in ("team/app", "pub/site", "other/app"):
            registry.push_image(repo, "base")
        yield registry


def served_digest(registry: RunningRegistry, name: str, reference: str) -> str | None:
    """The digest the registry serves for `name:reference` to an admin, or None when there is none."""
    response = httpx.get(
        f"{registry.url}/v2/{name}/manifests/{reference}",
        headers={"Accept": OCI_MANIFEST, **basic_auth("root", PASSWORDS["root"])},
        timeout=60,
    )
    assert response.status_code in (200, 404), response.text
    return response.headers["Docker-Content-Digest"] if response.status_code == 200 else None


@dataclass
class LoginClient:
    """One command-line tool with something to push: an OCI layout image (skopeo) or a local image."""

    name: str
    tool: Tool
    sandbox: Sandbox
    source: str

    @property
    def host(self) -> str:
        return self.sandbox.registry.host

    def login(self, user: str, secret: str) -> Result:
        return self.tool.run(
            "login", "--tls-verify=false", "--username", user, "--password-stdin", self.host, stdin=secret.encode()
        )

    def logout(self) -> Result:
        return self.tool.run("logout", self.host)

    def push(self, ref: str) -> Result:
        """Push the client's image to `ref` (`name:tag`), writing the digest to `pushed.digest`."""
        digest_file = str(self.sandbox.work / "pushed.digest")
        if self.name == "skopeo":
            return self.tool.run(
                "copy", "--dest-tls-verify=false", "--digestfile", digest_file, self.source, self.sandbox.docker(ref)
            )
        return self.tool.run("push", "--tls-verify=false", "--digestfile", digest_file, self.source, self.sandbox.docker(ref))

    def pushed_digest(self) -> str:
        return (self.sandbox.work / "pushed.digest").read_text().strip()

    def pull(self, ref: str) -> Result:
        if self.name == "skopeo":
            target = f"oci:{self.sandbox.work / 'pulled'}:{ref.replace('/', '-').replace(':', '-')}"
            return self.tool.run("copy", "--src-tls-verify=false", self.sandbox.docker(ref), target)
        policy = ["--policy", "always"] if self.name == "buildah" else []
        return self.tool.run("pull", "--tls-verify=false", *policy, self.sandbox.ref(ref))


@pytest.fixture(params=TOOLS)
def client(request: pytest.FixtureRequest, sandbox: Sandbox) -> LoginClient:
    tool: Tool = request.getfixturevalue(request.param)
    if request.param == "skopeo":
        request.getfixturevalue("umoci_layout")("v1")
        source = f"oci:{sandbox.layout}:v1"
    else:
        source = buildah_scratch_image(request.getfixturevalue("buildah"), "local", [random_files("local")])
    return LoginClient(request.param, tool, sandbox, source)


def must(result: Result) -> Result:
    assert result.returncode == 0, result.describe()
    return result


def must_fail(result: Result) -> Result:
    assert result.returncode != 0, f"expected a failure:\n{result.describe()}"
    return result


CREDENTIALS: dict[str, Callable[[RunningRegistry], tuple[str, str]]] = {
    "password": lambda registry: ("alice", PASSWORDS["alice"]),
    "personal token": lambda registry: ("alice", registry.create_token("alice", ["read_registry", "write_registry"])),
    "deploy token": lambda registry: registry.create_deploy_token("team/app", ["read_registry", "write_registry"]),
}


@pytest.mark.parametrize("kind", CREDENTIALS)
def test_log_in_push_pull_and_log_out(client: LoginClient, tinyreg: RunningRegistry, kind: str) -> None:
    must(client.login(*CREDENTIALS[kind](tinyreg)))
    must(client.push("team/app:pushed"))
    assert served_digest(tinyreg, "team/app", "pushed") == client.pushed_digest()
    must(client.pull("team/app:base"))
    if client.name == "skopeo":
        assert Layout(client.sandbox.work / "pulled").image("team-app-base").digest == served_digest(tinyreg, "team/app", "base")
    must(client.logout())
    must_fail(client.push("team/app:after-logout"))
    assert served_digest(tinyreg, "team/app", "after-logout") is None
    must_fail(client.pull("team/app:base"))


def expired_token(registry: RunningRegistry) -> tuple[str, str]:
    return "alice", registry.create_token("alice", ["read_registry", "write_registry"], expires_in=-1)


def revoked_token(registry: RunningRegistry) -> tuple[str, str]:
    secret = registry.create_token("alice", ["read_registry", "write_registry"], name="revoked")
    [record] = [t for t in admin_ok(registry.data_dir, "token", "list", "alice") if t["name"] == "revoked"]
    admin_ok(registry.data_dir, "token", "revoke", str(record["id"]))
    return "alice", secret


def tokens_only_password(registry: RunningRegistry) -> tuple[str, str]:
    admin_ok(registry.data_dir, "user", "update", "alice", "--tokens-only", "on")
    return "alice", PASSWORDS["alice"]


REFUSED_LOGINS: dict[str, Callable[[RunningRegistry], tuple[str, str]]] = {
    "wrong password": lambda registry: ("alice", "not-alices-password"),
    "unknown user": lambda registry: ("mallory", "whatever-password"),
    "expired token": expired_token,
    "revoked token": revoked_token,
    "password of a tokens-only user": tokens_only_password,
}


@pytest.mark.parametrize("case", REFUSED_LOGINS)
def test_a_refused_login_stores_nothing_and_pushing_stays_refused(
    client: LoginClient, tinyreg: RunningRegistry, case: str
) -> None:
    must_fail(client.login(*REFUSED_LOGINS[case](tinyreg)))
    must_fail(client.push("team/app:refused"))
    assert served_digest(tinyreg, "team/app", "refused") is None


def test_a_tokens_only_user_logs_in_with_a_personal_token(client: LoginClient, tinyreg: RunningRegistry) -> None:
    tokens_only_password(tinyreg)
    must(client.login("alice", tinyreg.create_token("alice", ["read_registry", "write_registry"])))
    must(client.push("team/app:by-token"))
    assert served_digest(tinyreg, "team/app", "by-token") == client.pushed_digest()


LIMITED: dict[str, Callable[[RunningRegistry], tuple[str, str]]] = {
    "read-only personal token": lambda registry: ("alice", registry.create_token("alice", ["read_registry"])),
    "read-only deploy token": lambda registry: registry.create_deploy_token("team/app", ["read_registry"]),
    "reporter's password": lambda registry: ("bob", PASSWORDS["bob"]),
}


@pytest.mark.parametrize("case", LIMITED)
def test_read_only_credentials_pull_but_cannot_push(client: LoginClient, tinyreg: RunningRegistry, case: str) -> None:
    must(client.login(*LIMITED[case](tinyreg)))
    must(client.pull("team/app:base"))
    must_fail(client.push("team/app:read-only"))
    assert served_digest(tinyreg, "team/app", "read-only") is None


@pytest.mark.parametrize("kind", ["deploy token", "personal token"])
def test_a_token_of_another_project_opens_nothing_here(client: LoginClient, tinyreg: RunningRegistry, kind: str) -> None:
    if kind == "deploy token":
        user, secret = tinyreg.create_deploy_token("other/app", ["read_registry", "write_registry"])
    else:
        user, secret = "carol", tinyreg.create_token("carol", ["read_registry", "write_registry"])
    must(client.login(user, secret))
    must(client.pull("other/app:base"))
    must_fail(client.pull("team/app:base"))
    must_fail(client.push("team/app:foreign"))
    assert served_digest(tinyreg, "team/app", "foreign") is None


def test_anonymous_clients_pull_public_projects_only_and_never_push(client: LoginClient, tinyreg: RunningRegistry) -> None:
    must(client.pull("pub/site:base"))
    must_fail(client.pull("team/app:base"))
    must_fail(client.push("pub/site:anonymous"))
    assert served_digest(tinyreg, "pub/site", "anonymous") is None


# -- oras-py -----------------------------------------------------------------------------------
# oras-py 0.2's token backend keeps the first registry token it gets (pull scope) and, on a 401,
# retries with it once more; only a 403 makes it ask /token again with the challenge's scope.
# The registry answers 403 + challenge to a token lacking a scope its subject may have, so the
# token backend pushes too; the Basic backend keeps working as well.

NOTES = b"pushed with credentials\n"


def oras_push(oras_client: Any, work: Path, target: str) -> Any:
    """Push one small file as an artifact with oras-py."""
    work.mkdir(parents=True, exist_ok=True)
    path = work / "notes.txt"
    path.write_bytes(NOTES)
    return oras_client.push(files=[str(path)], target=f"{oras_client.hostname}/{target}", disable_path_validation=True)


def basic_backend(oras_client: Any) -> Any:
    """The same retry-less oras-py client class, with its Basic auth backend."""
    return type(oras_client)(hostname=oras_client.hostname, insecure=True, auth_backend="basic")


@pytest.mark.parametrize("backend", ["token", "basic"])
@pytest.mark.parametrize("kind", CREDENTIALS)
def test_oras_logs_in_pushes_and_pulls(
    oras_client: Any, tinyreg: RunningRegistry, tmp_path: Path, kind: str, backend: str
) -> None:
    oras = basic_backend(oras_client) if backend == "basic" else oras_client
    user, secret = CREDENTIALS[kind](tinyreg)
    oras.login(username=user, password=secret, hostname=tinyreg.host, config_path=str(tmp_path / "oras-config.json"))
    response = oras_push(oras, tmp_path / "push", "team/app:notes")
    assert response.status_code == 201, response.text
    assert served_digest(tinyreg, "team/app", "notes") == response.headers["Docker-Content-Digest"]
    files = oras.pull(target=f"{tinyreg.host}/team/app:notes", outdir=str(tmp_path / "pulled"))
    assert [Path(f).read_bytes() for f in files] == [NOTES]


def test_oras_token_auth_pulls_a_private_artifact_with_credentials(
    oras_client: Any, tinyreg: RunningRegistry, tmp_path: Path
) -> None:
    tinyreg.push_artifact("team/app", "notes", {"notes.txt": NOTES}, artifact_type="application/vnd.tinyreg.notes")
    oras_client.auth.set_basic_auth("bob", PASSWORDS["bob"])
    manifest = oras_client.get_manifest(f"{tinyreg.host}/team/app:notes")
    assert manifest["artifactType"] == "application/vnd.tinyreg.notes"
    assert oras_client.auth.token, "oras-py got a registry token from /token"


@pytest.mark.parametrize("backend", ["token", "basic"])
def test_oras_with_a_wrong_password_cannot_push(oras_client: Any, tinyreg: RunningRegistry, tmp_path: Path, backend: str) -> None:
    oras = basic_backend(oras_client) if backend == "basic" else oras_client
    oras.auth.set_basic_auth("alice", "not-alices-password")
    try:
        status = oras_push(oras, tmp_path / "push", "team/app:notes").status_code
    except Exception as exc:  # oras-py raises on most refusals
        status = repr(exc)
    assert status != 201
    assert served_digest(tinyreg, "team/app", "notes") is None


def test_oras_pulls_a_public_project_anonymously_but_not_a_private_one(oras_client: Any, tinyreg: RunningRegistry) -> None:
    manifest = oras_client.get_manifest(f"{tinyreg.host}/pub/site:base")
    assert manifest["schemaVersion"] == 2 and manifest["layers"]
    with pytest.raises(ValueError, match="/v2/team/app/manifests/base"):
        oras_client.get_manifest(f"{tinyreg.host}/team/app:base")


# -- the catalog -------------------------------------------------------------------------------


def test_podman_search_lists_the_repositories_its_logged_in_user_may_pull(podman: Tool, tinyreg: RunningRegistry) -> None:
    """podman sends credentials only after a challenge: an anonymous catalog must ask for them."""
    host = tinyreg.host
    must(
        podman.run("login", "--tls-verify=false", "--username", "bob", "--password-stdin", host, stdin=PASSWORDS["bob"].encode())
    )
    found = must(podman.run("search", "--tls-verify=false", "--limit", "100", "--format", "{{.Name}}", f"{host}/"))
    assert sorted(found.text.split()) == [f"{host}/pub/site", f"{host}/team/app"]


@pytest.mark.parametrize("client", ["skopeo"], indirect=True)
def test_a_developer_of_the_group_pushes_with_a_password_or_an_api_scoped_token(
    client: LoginClient, tinyreg: RunningRegistry
) -> None:
    tinyreg.create_user("gina", "gina-client-passphrase")
    tinyreg.add_group_member("team", "gina", "developer")  # the group of team/app, made with it
    must(client.login("gina", "gina-client-passphrase"))
    must(client.push("team/app/img:by-group"))
    assert served_digest(tinyreg, "team/app/img", "by-group") == client.pushed_digest()
    must_fail(client.push("other/app:by-group"))
    must(client.logout())
    must(client.login("gina", tinyreg.create_token("gina", ["api"])))  # as in GitLab, api includes the registry
    must(client.push("team/app/img:by-api-token"))
    assert served_digest(tinyreg, "team/app/img", "by-api-token") == client.pushed_digest()

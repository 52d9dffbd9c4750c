"""The access model: credentials, challenges, tokens, the admin command line and the `AuthWorld` cast."""

from __future__ import annotations

import base64
import json
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.helpers import api_client
from tests.manifest_builders import OCI_MANIFEST
from tests.processes import clean_env, tinyreg_command


def basic_auth(user: str, password: str) -> dict[str, str]:
    """An `Authorization: Basic` header."""
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def bearer_auth(token: str) -> dict[str, str]:
    """An `Authorization: Bearer` header."""
    return {"Authorization": f"Bearer {token}"}


def challenge_params(response: httpx.Response) -> dict[str, str]:
    """The parameters of a `WWW-Authenticate: Bearer k="v",...` challenge (fails if there is none)."""
    header = response.headers.get("WWW-Authenticate", "")
    assert header.startswith("Bearer "), f"no Bearer challenge in {response.status_code} {dict(response.headers)}"
    return parse_challenge(header.removeprefix("Bearer "))


def parse_challenge(text: str) -> dict[str, str]:
    """`k="v",...` parameters per RFC 9110 (quoted-strings with `\\` escapes); fails on anything else."""
    param = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"(?:,|$)')
    params: dict[str, str] = {}
    position = 0
    while position < len(text):
        match = param.match(text, position)
        assert match is not None, f"malformed challenge at {text[position:]!r}"
        assert match.group(1) not in params, f"parameter {match.group(1)} given twice in {text!r}"
        params[match.group(1)] = re.sub(r"\\(.)", r"\1", match.group(2))
        position = match.end()
    return params


def jwt_sections(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The decoded (header, claims) of a JWT, unverified."""

    def decode(text: str) -> dict[str, Any]:
        return json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))

    header, claims, _ = token.split(".")
    return decode(header), decode(claims)


def get_token(url: str, scopes: list[str], headers: dict[str, str] | None = None, **params: str) -> httpx.Response:
    """`GET /token?service=tinyreg&scope=...` (one `scope` parameter per entry)."""
    query = [("service", "tinyreg"), *(("scope", scope) for scope in scopes), *params.items()]
    return httpx.get(f"{url}/token", params=query, headers=headers or {}, timeout=60)


def token_for(url: str, scopes: list[str], headers: dict[str, str] | None = None) -> str:
    """A registry token that `GET /token` must issue (200) for these credentials and scopes."""
    response = get_token(url, scopes, headers)
    assert response.status_code == 200, response.text
    return response.json()["token"]


def tinyreg_admin(
    data_dir: Path, *args: str, stdin: str | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run `tinyreg ARGS --data DATA_DIR` (an administration command) and return what it did."""
    return subprocess.run(
        tinyreg_command(*args, "--data", str(data_dir)),
        input=stdin,
        capture_output=True,
        text=True,
        env=env if env is not None else clean_env(),
        timeout=60,
        check=False,
    )


def admin_ok(data_dir: Path, *args: str, stdin: str | None = None) -> Any:
    """Run an administration command with `--json`; it must exit 0; return its JSON output."""
    done = tinyreg_admin(data_dir, *args, "--json", stdin=stdin)
    assert done.returncode == 0, f"tinyreg {' '.join(args)} exited {done.returncode}: {done.stderr}"
    return json.loads(done.stdout)


@dataclass(frozen=True)
class AuthWorld:
    """A registry with `--auth` and a known cast: root (admin); alice owns the private `team/app`
    and the public `pub/site`; bob is a reporter of `team/app`; carol owns the private
    `carol/box`; `loose/repo` belongs to no project (so no one may use it). Every repository in `REPOS` has a `v1`."""

    PASSWORDS = {name: f"{name}-Pa55-phrase-{name}" for name in ("root", "alice", "bob", "carol")}
    REPOS = ("team/app", "team/app/api", "pub/site", "carol/box", "loose/repo")

    registry: Any
    digests: dict[str, str]

    @classmethod
    def build(cls, registry: Any) -> AuthWorld:
        """Create the cast and push the images on a fresh `RunningRegistry` started with `auth=True`."""
        for name, password in cls.PASSWORDS.items():
            registry.create_user(name, password, admin=name == "root")
        registry.create_project("team/app", owner="alice")
        registry.add_member("team/app", "bob", "reporter")
        registry.create_project("pub/site", public=True, owner="alice")
        registry.create_project("carol/box", owner="carol")
        return cls(registry, {repo: registry.push_image(repo, "v1") for repo in cls.REPOS})

    @property
    def url(self) -> str:
        """The base URL of the registry."""
        return self.registry.url

    def login(self, name: str) -> dict[str, str]:
        """Basic credentials of one of the cast."""
        return basic_auth(name, self.PASSWORDS[name])

    def client(self, headers: dict[str, str] | None = None) -> httpx.Client:
        """An API client sending `headers` (credentials) with every request."""
        api = api_client(self.url)
        api.headers.update(headers or {})
        return api

    def pull_status(self, repo: str, headers: dict[str, str] | None = None) -> int:
        """The status of `GET /v2/<repo>/manifests/v1` with these credentials."""
        with self.client(headers) as api:
            return api.get(f"/v2/{repo}/manifests/v1", headers={"Accept": OCI_MANIFEST}).status_code


def granted_access(response: httpx.Response) -> dict[str, list[str]]:
    """repository name → actions, from the `access` claim of a successful `/token` answer."""
    assert response.status_code == 200, response.text
    return {entry["name"]: entry["actions"] for entry in jwt_sections(response.json()["token"])[1]["access"]}

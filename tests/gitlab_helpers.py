"""A registry with `--auth` driven through `/api/v4` by python-gitlab: the cast, their API
tokens, images pushed over `/v2/`, and checks of GitLab's error shape."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import gitlab
import httpx
import pytest
from tinyreg.testing import RunningRegistry

from tests.auth_helpers import basic_auth, token_for
from tests.helpers import api_client, digest_of
from tests.manifest_builders import OCI_MANIFEST, Pushed, artifact_manifest, encode, push_image, push_manifest

API_SCOPES = ["api"]
SIGNATURE = "application/vnd.dev.cosign.artifact.sig.v1+json"


@dataclass
class GitLabWorld:
    """root (admin); alice owns the private `team/app` and the public `pub/site`; bob is a
    reporter and dave a developer of `team/app`; carol owns `carol/box`. Each has a PAT with the
    `api` scope in `tokens`; `pushers` hold registry PATs for pushing over `/v2/`."""

    USERS = ("root", "alice", "bob", "carol", "dave")

    registry: RunningRegistry
    tokens: dict[str, str] = field(default_factory=dict)
    pusher: str = ""

    @classmethod
    def build(cls, registry: RunningRegistry) -> GitLabWorld:
        for name in cls.USERS:
            registry.create_user(name, f"{name}-Pa55-phrase-{name}", admin=name == "root")
        registry.create_project("team/app", owner="alice")
        registry.add_member("team/app", "bob", "reporter")
        registry.add_member("team/app", "dave", "developer")
        registry.create_project("pub/site", public=True, owner="alice")
        registry.create_project("carol/box", owner="carol")
        world = cls(registry, pusher=registry.create_token("root", ["read_registry", "write_registry"], name="pusher"))
        for name in cls.USERS:
            world.tokens[name] = registry.create_token(name, API_SCOPES, name="api")
        return world

    @property
    def url(self) -> str:
        return self.registry.url

    def gitlab(self, who: str | None = None, *, token: str | None = None, **options: Any) -> gitlab.Gitlab:
        """A python-gitlab client with `who`'s API token (or `token`; anonymous with neither)."""
        secret = token if token is not None else self.tokens[who] if who else None
        return gitlab.Gitlab(self.url, private_token=secret, timeout=60, retry_transient_errors=False, **options)

    def v2_client(self, repo: str) -> httpx.Client:
        """A `/v2/` client holding a registry token that may push to `repo`."""
        token = token_for(self.url, [f"repository:{repo}:pull,push"], basic_auth("root", self.pusher))
        client = api_client(self.url)
        client.headers["Authorization"] = f"Bearer {token}"
        return client

    def push(self, repo: str, *tags: str, seed: str | None = None) -> Pushed:
        """Push one image over `/v2/` to `repo` under each of `tags` (the first gets its blobs)."""
        with self.v2_client(repo) as client:
            pushed = push_image(client, repo, tags[0], seed=seed or f"{repo}:{tags[0]}")
            for tag in tags[1:]:
                push_manifest(client, repo, tag, pushed.body, pushed.media_type)
        return pushed

    def sign(self, repo: str, subject: Pushed) -> Pushed:
        """Push a signature artifact referring to `subject`, by digest only."""
        with self.v2_client(repo) as client:
            body = encode(artifact_manifest(client, repo, SIGNATURE, subject=subject))
            return push_manifest(client, repo, digest_of(body), body, OCI_MANIFEST)


def gitlab_error(call: Callable[[], Any], status: int) -> Any:
    """Run a python-gitlab call that must fail with `status`; return GitLab's decoded error body."""
    with pytest.raises(gitlab.GitlabError) as info:
        call()
    assert info.value.response_code == status, f"expected {status}, got {info.value.response_code}: {info.value}"
    return info.value.error_message

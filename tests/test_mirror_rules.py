"""The pull-through cache's pure rules, table by table: upstream selection, containerd's ns,
Dependency Proxy paths, allow/deny, freshness, eviction, challenges, settings and access."""

from __future__ import annotations

from pathlib import Path

import pytest
from tinyreg.access.policy import ANONYMOUS, DELETE, PULL, PUSH, CacheAccess, GroupAccess, Principal, cache_actions
from tinyreg.config import ConfigError, load_settings
from tinyreg.registry.mirrors import (
    CacheStat,
    Mirror,
    MirrorConfigError,
    by_dependency_proxy,
    by_ns,
    by_prefix,
    evictions,
    mirror_from_table,
    parse_challenge,
    parse_mirror_flag,
    prefetch_digests,
    repo_allowed,
    tag_is_fresh,
    upstream_failure,
    upstream_is_down,
)

HUB = Mirror("hub", "https://registry-1.docker.io")
GHCR = Mirror("ghcr", "https://ghcr.io")
LOCAL = Mirror("local", "http://127.0.0.1:5001")
MIRRORS = (HUB, GHCR, LOCAL)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("hub/library/alpine", ("hub", "library/alpine")),
        ("ghcr/owner/tool/sub", ("ghcr", "owner/tool/sub")),
        ("hub", None),  # a mirror's name alone names no repository
        ("hubx/library/alpine", None),
        ("team/app", None),
    ],
)
def test_the_path_prefix_picks_the_mirror(name: str, expected: tuple[str, str] | None) -> None:
    target = by_prefix(MIRRORS, name)
    assert (None if target is None else (target.mirror.name, target.upstream_repo)) == expected
    if target is not None:
        assert target.local_repo == name


@pytest.mark.parametrize(
    ("ns", "expected"),
    [
        ("docker.io", "hub"),  # containerd names Docker Hub docker.io, the mirror's URL says registry-1
        ("registry-1.docker.io", "hub"),
        ("ghcr.io", "ghcr"),
        ("GHCR.IO", "ghcr"),
        ("127.0.0.1:5001", "local"),
        ("127.0.0.1:5002", None),
        ("quay.io", None),
    ],
)
def test_containerd_ns_is_matched_to_the_upstream_host(ns: str, expected: str | None) -> None:
    target = by_ns(MIRRORS, ns, "library/alpine")
    assert (None if target is None else target.mirror.name) == expected
    if target is not None:
        assert target.local_repo == f"{expected}/library/alpine"


@pytest.mark.parametrize(
    ("mirrors", "upstream", "name", "expected"),
    [
        (MIRRORS, "", "acme/dependency_proxy/containers/alpine", ("acme", "hub/library/alpine")),
        (MIRRORS, "", "acme/dependency_proxy/containers/bitnami/redis", ("acme", "hub/bitnami/redis")),
        (MIRRORS, "", "a/b/dependency_proxy/containers/alpine", ("a/b", "hub/library/alpine")),
        (MIRRORS, "ghcr", "acme/dependency_proxy/containers/tool", ("acme", "ghcr/library/tool")),  # it plays Docker Hub
        (
            (Mirror("dockerhub-cache", "https://index.docker.io"),),
            "",
            "g/dependency_proxy/containers/x",
            ("g", "dockerhub-cache/library/x"),
        ),
        ((GHCR,), "", "acme/dependency_proxy/containers/alpine", None),  # no Docker Hub mirror, no upstream set
        (MIRRORS, "", "acme/dependency_proxy/alpine", None),
        (MIRRORS, "", "dependency_proxy/containers/alpine", None),
        (MIRRORS, "", "team/app", None),
    ],
)
def test_dependency_proxy_paths_are_rewritten(
    mirrors: tuple[Mirror, ...], upstream: str, name: str, expected: tuple[str, str] | None
) -> None:
    found = by_dependency_proxy(mirrors, name, upstream)
    assert (None if found is None else (found[0], found[1].local_repo)) == expected


@pytest.mark.parametrize(
    ("allow", "deny", "repo", "allowed"),
    [
        ((), (), "library/alpine", True),
        (("library/*",), (), "library/alpine", True),
        (("library/*",), (), "bitnami/redis", False),
        (("library/*",), ("library/secret*",), "library/secret-thing", False),  # deny wins
        ((), ("*/private",), "team/private", False),
        ((), ("*/private",), "team/public", True),
    ],
)
def test_allow_and_deny_patterns(allow: tuple[str, ...], deny: tuple[str, ...], repo: str, allowed: bool) -> None:
    assert repo_allowed(Mirror("m", "https://x.io", allow=allow, deny=deny), repo) is allowed


@pytest.mark.parametrize(
    ("checked_at", "now", "ttl", "fresh"),
    [
        (None, 100.0, 300.0, False),  # never confirmed
        (100.0, 100.0, 300.0, True),
        (100.0, 399.9, 300.0, True),
        (100.0, 400.0, 300.0, False),  # at the ttl: asked again
        (100.0, 100.0, 0.0, False),  # ttl 0: every tag request asks upstream
        (200.0, 100.0, 300.0, False),  # a clock gone backwards: not trusted
    ],
)
def test_tag_freshness(checked_at: float | None, now: float, ttl: float, fresh: bool) -> None:
    assert tag_is_fresh(checked_at, now, ttl) is fresh


@pytest.mark.parametrize(
    ("status", "down"), [(None, True), (500, True), (503, True), (429, True), (404, False), (401, False), (200, False)]
)
def test_when_upstream_counts_as_down(status: int | None, down: bool) -> None:
    assert upstream_is_down(status) is down


@pytest.mark.parametrize(
    ("stats", "limit", "evicted"),
    [
        ([CacheStat("a", 1.0, 10), CacheStat("b", 2.0, 10)], None, []),
        ([CacheStat("a", 1.0, 10), CacheStat("b", 2.0, 10)], 20, []),
        ([CacheStat("a", 1.0, 10), CacheStat("b", 2.0, 10), CacheStat("c", 3.0, 10)], 20, ["a"]),
        ([CacheStat("new", 9.0, 5), CacheStat("old", 1.0, 5), CacheStat("mid", 5.0, 5)], 5, ["old", "mid"]),
        ([CacheStat("huge", 9.0, 100)], 10, ["huge"]),
    ],
)
def test_least_recently_pulled_are_evicted_first(stats: list[CacheStat], limit: int | None, evicted: list[str]) -> None:
    assert evictions(stats, limit) == evicted


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (
            'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull"',
            (
                "bearer",
                {
                    "realm": "https://auth.docker.io/token",
                    "service": "registry.docker.io",
                    "scope": "repository:library/alpine:pull",
                },
            ),
        ),
        ('Basic realm="Registry Realm"', ("basic", {"realm": "Registry Realm"})),
        (
            'Bearer realm="http://x/token", error="insufficient_scope"',
            ("bearer", {"realm": "http://x/token", "error": "insufficient_scope"}),
        ),
        ('Bearer realm="a\\"b"', ("bearer", {"realm": 'a"b'})),
        ("", ("", {})),
    ],
)
def test_challenges_are_read(header: str, expected: tuple[str, dict[str, str]]) -> None:
    assert parse_challenge(header) == expected


def test_upstream_failures_name_the_upstream_and_its_answer() -> None:
    assert upstream_failure(HUB, "manifest library/x:1", 404, "MANIFEST_UNKNOWN: manifest unknown") == (
        "MANIFEST_UNKNOWN",
        404,
        "upstream hub (https://registry-1.docker.io) answered 404 for manifest library/x:1: MANIFEST_UNKNOWN: manifest unknown",
    )
    assert upstream_failure(HUB, "blob sha256:ab", None, "ConnectError")[:2] == ("UNKNOWN", 502)
    assert upstream_failure(HUB, "blob sha256:ab", 429, "")[:2] == ("TOOMANYREQUESTS", 429)
    assert upstream_failure(HUB, "blob sha256:ab", 404, "")[0] == "BLOB_UNKNOWN"


@pytest.mark.parametrize(
    ("table", "problem"),
    [
        ({}, "url is required"),
        ({"url": "ftp://x"}, "url must be http(s)://host[:port]"),
        ({"url": "https://x.io/v2"}, "url must be"),
        ({"url": "https://x.io", "tag_ttl": "soon"}, "tag_ttl must be a duration"),
        ({"url": "https://x.io", "allow": "library/*", "deny": [1]}, "deny must be a list"),
        ({"url": "https://x.io", "username": "u"}, "username and password go together"),
        ({"url": "https://x.io", "size_limit": "lots"}, "size_limit"),
        ({"url": "https://x.io", "colour": "red"}, "unknown key 'colour'"),
        ({"url": "https://x.io", "prefetch": "yes"}, "prefetch must be true or false"),
    ],
)
def test_mirror_tables_that_cannot_be_used_are_refused(table: dict[str, object], problem: str) -> None:
    with pytest.raises(
        MirrorConfigError, match="mirror hub: " + problem.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")
    ):
        mirror_from_table("hub", table)


def test_mirror_tables_and_flags() -> None:
    mirror = mirror_from_table(
        "hub",
        {
            "url": "https://registry-1.docker.io/",
            "username": "u",
            "password": "hunter2-secret",
            "tag_ttl": "5m",
            "allow": "library/*",
            "size_limit": "10GB",
        },
    )
    assert mirror == Mirror("hub", "https://registry-1.docker.io", "u", "hunter2-secret", 300.0, ("library/*",), (), 10**10)
    assert "hunter2" not in repr(mirror)
    assert parse_mirror_flag("ghcr=https://ghcr.io") == Mirror("ghcr", "https://ghcr.io")
    for bad in ("ghcr", "Hub=https://x.io", "a/b=https://x.io"):
        with pytest.raises(MirrorConfigError):
            parse_mirror_flag(bad)


def test_settings_take_mirror_tables_arrays_and_flags(tmp_path: Path) -> None:
    tables = tmp_path / "tables.toml"
    tables.write_text(
        '[mirrors.hub]\nurl = "https://registry-1.docker.io"\ntag_ttl = "1h"\n[dependency_proxy]\nupstream = "hub"\n'
    )
    settings = load_settings(env={}, config_file=tables)
    assert settings.mirrors == (Mirror("hub", "https://registry-1.docker.io", tag_ttl=3600.0),)
    assert settings.dependency_proxy_upstream == "hub"
    array = tmp_path / "array.toml"
    array.write_text('[[mirrors]]\nname = "hub"\nurl = "https://a.io"\n[[mirrors]]\nname = "ghcr"\nurl = "https://ghcr.io"\n')
    flagged = load_settings({"mirror": ["hub=https://b.io"]}, env={}, config_file=array)
    assert flagged.mirrors == (Mirror("hub", "https://b.io"), Mirror("ghcr", "https://ghcr.io"))  # the flag wins
    with pytest.raises(ConfigError, match="dependency_proxy upstream 'nope' names no mirror"):
        load_settings({"mirror": ["hub=https://b.io"], "dependency_proxy_upstream": "nope"}, env={})
    broken = tmp_path / "broken.toml"
    broken.write_text("[mirrors.hub]\nurl = 5\n")
    with pytest.raises(ConfigError, match="broken.toml: mirror hub: url is required"):
        load_settings(env={}, config_file=broken)


ALICE = Principal("user", "alice")
ADMIN = Principal("user", "root", admin=True)
READ_ONLY_TOKEN = Principal("user", "alice", scopes=frozenset({"read_registry"}))
NO_PULL_TOKEN = Principal("user", "alice", scopes=frozenset({"write_registry"}))
ALL = frozenset({PULL, PUSH, DELETE})


def _proxy(public: bool, role: str | None) -> CacheAccess:
    return CacheAccess("hub", "https://x.io", False, dependency_proxy=True, group=GroupAccess("acme", public, role))


@pytest.mark.parametrize(
    ("principal", "cache", "allowed"),
    [
        (ANONYMOUS, CacheAccess("hub", "https://x.io", public=True), {PULL}),  # open registry, or a public mirror
        (ANONYMOUS, CacheAccess("hub", "https://x.io", public=False), set()),
        (ALICE, CacheAccess("hub", "https://x.io", public=False), {PULL}),  # never push or delete
        (ADMIN, CacheAccess("hub", "https://x.io", public=False), {PULL}),
        (READ_ONLY_TOKEN, CacheAccess("hub", "https://x.io", public=False), {PULL}),
        (NO_PULL_TOKEN, CacheAccess("hub", "https://x.io", public=False), set()),
        (ALICE, _proxy(False, "reporter"), {PULL}),
        (ALICE, _proxy(False, "guest"), set()),
        (ALICE, _proxy(False, None), set()),
        (ANONYMOUS, _proxy(True, None), {PULL}),
        (ANONYMOUS, _proxy(False, None), set()),
        (ADMIN, _proxy(False, None), {PULL}),
        (NO_PULL_TOKEN, _proxy(False, "owner"), set()),
        (ALICE, CacheAccess("hub", "https://x.io", False, dependency_proxy=True, group=None), set()),
    ],
)
def test_who_may_pull_through_the_cache(principal: Principal, cache: CacheAccess, allowed: set[str]) -> None:
    assert cache_actions(principal, cache, ALL) == allowed


def _descriptor(digest: str) -> dict[str, object]:
    return {"mediaType": "application/octet-stream", "digest": digest, "size": 1}


@pytest.mark.parametrize(
    ("document", "limit", "expected"),
    [
        ({"config": _descriptor("c"), "layers": [_descriptor("l1"), _descriptor("l2")]}, 4, ["c", "l1", "l2"]),
        ({"config": _descriptor("c"), "layers": [_descriptor(f"l{i}") for i in range(9)]}, 3, ["c", "l0", "l1"]),
        ({"config": _descriptor("c"), "layers": [_descriptor("c"), _descriptor("l")]}, 4, ["c", "l"]),  # once each
        ({"layers": [_descriptor("l")], "artifactType": "application/x-test"}, 4, ["l"]),
        ({"manifests": [_descriptor("m1")], "layers": []}, 4, []),  # an index: the client picks a platform first
        ({"config": {"digest": 7}, "layers": "x"}, 4, []),
        ([], 4, []),
    ],
)
def test_the_config_and_first_layers_of_an_image_are_prefetched(document: object, limit: int, expected: list[str]) -> None:
    assert prefetch_digests(document, limit) == expected


def test_prefetch_is_on_unless_a_mirror_turns_it_off() -> None:
    assert mirror_from_table("hub", {"url": "https://x.io"}).prefetch
    assert not mirror_from_table("hub", {"url": "https://x.io", "prefetch": False}).prefetch

"""Pull-through cache rules (pure): upstreams, which one a request means, and when to ask it.

A mirror is an upstream registry by name (`hub` → `https://registry-1.docker.io`). Its images
are cached as ordinary repositories named `<mirror>/<upstream repository>`, reached three ways:

* the path prefix: `/v2/hub/library/alpine/manifests/3.19` (podman's `[[registry.mirror]]`
  with `location = "host:port/hub"` sends the same);
* containerd's registry-mirror mode: `/v2/library/alpine/manifests/3.19?ns=docker.io`, the
  `ns` naming the upstream by the host of its URL;
* GitLab's Dependency Proxy: `/v2/<group>/dependency_proxy/containers/alpine/manifests/3.19`,
  Docker Hub's images, `library/` added to a one-component name as Docker does.

Everything here is a function of its arguments: the clock, the network and the store are the
callers'.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from tinyreg.durations import parse_duration
from tinyreg.registry.errors import ErrorCode
from tinyreg.registry.usage import parse_size

MIRROR_NAME_RE = re.compile(r"[a-z0-9]+(?:[._-][a-z0-9]+)*")
DEFAULT_TAG_TTL = 300.0
#: The hosts Docker Hub answers on, and the name clients use for it (`ns=docker.io`).
DOCKER_HUB_HOSTS = frozenset({"docker.io", "registry-1.docker.io", "index.docker.io", "registry.hub.docker.com"})
DEPENDENCY_PROXY_MARK = "/dependency_proxy/containers/"
#: Names the dependency proxy takes as Docker Hub when no `dependency_proxy.upstream` is set.
HUB_NAMES = ("docker.io", "hub", "dockerhub", "docker-hub")
_MIRROR_KEYS = {"name", "url", "username", "password", "tag_ttl", "allow", "deny", "size_limit", "public", "prefetch"}


class MirrorConfigError(ValueError):
    """A mirror setting that cannot be used; the message names the mirror and the key."""


@dataclass(frozen=True)
class Mirror:
    """One upstream registry and how to use it."""

    name: str
    url: str
    username: str = ""
    password: str = field(default="", repr=False)
    tag_ttl: float = DEFAULT_TAG_TTL
    """Seconds a tag is served from the cache before it is checked upstream again."""
    allow: tuple[str, ...] = ()
    """Upstream repositories that may be pulled (glob patterns, `library/*`); none: all."""
    deny: tuple[str, ...] = ()
    """Upstream repositories that may not be pulled; a deny wins over an allow."""
    size_limit: int | None = None
    """Bytes the mirror's cached repositories may take; the least recently pulled go first."""
    public: bool = False
    """With --auth: whether anonymous clients may pull through it (otherwise any signed-in principal)."""
    prefetch: bool = True
    """Whether an image manifest fetched from upstream starts the fetch of its config and first
    layers at once, before its client asks for them (see `prefetch_digests`)."""

    @property
    def host(self) -> str:
        """The host (and port, if any) of the upstream's URL, lowercase."""
        return urlsplit(self.url).netloc.lower()

    def local_repo(self, upstream_repo: str) -> str:
        return f"{self.name}/{upstream_repo}"


class CacheTarget(NamedTuple):
    """A request resolved to a mirror: the upstream's repository and the cache's own."""

    mirror: Mirror
    upstream_repo: str

    @property
    def local_repo(self) -> str:
        return self.mirror.local_repo(self.upstream_repo)


# -- configuration --------------------------------------------------------------------------


def check_mirror_name(name: str) -> str:
    if not MIRROR_NAME_RE.fullmatch(name) or len(name) > 64:
        raise MirrorConfigError(f"mirror name {name[:80]!r} must be lowercase letters, digits and . _ - (one path component)")
    return name


def check_url(name: str, url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.path.strip("/") or parts.query:
        raise MirrorConfigError(f"mirror {name}: url must be http(s)://host[:port], not {url!r}")
    return f"{parts.scheme}://{parts.netloc}"


def parse_mirror_flag(text: str) -> Mirror:
    """`--mirror NAME=URL`."""
    name, sep, url = text.partition("=")
    if not sep:
        raise MirrorConfigError(f"--mirror takes NAME=URL (hub=https://registry-1.docker.io), not {text!r}")
    name = check_mirror_name(name.strip())
    return Mirror(name, check_url(name, url.strip()))


def _patterns(name: str, key: str, value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(item, str) and item for item in value):
        raise MirrorConfigError(f"mirror {name}: {key} must be a list of repository patterns")
    return tuple(value)


def mirror_from_table(name: str, table: Mapping[str, Any]) -> Mirror:
    """A mirror from its TOML table (`[mirrors.NAME]`, or an entry of `[[mirrors]]` with `name`)."""
    check_mirror_name(name)
    unknown = sorted(set(table) - _MIRROR_KEYS)
    if unknown:
        raise MirrorConfigError(f"mirror {name}: unknown key {unknown[0]!r} (known: {', '.join(sorted(_MIRROR_KEYS))})")
    url = table.get("url")
    if not isinstance(url, str):
        raise MirrorConfigError(f"mirror {name}: url is required (a string)")
    values: dict[str, Any] = {"name": name, "url": check_url(name, url)}
    for key in ("username", "password"):
        if key in table:
            if not isinstance(table[key], str):
                raise MirrorConfigError(f"mirror {name}: {key} must be a string")
            values[key] = table[key]
    if "tag_ttl" in table:
        ttl = table["tag_ttl"]
        try:
            values["tag_ttl"] = parse_duration(ttl) if isinstance(ttl, str) else float(ttl)
        except (TypeError, ValueError):
            raise MirrorConfigError(f"mirror {name}: tag_ttl must be a duration (300, 5m, 1h), not {ttl!r}") from None
        if isinstance(ttl, bool) or values["tag_ttl"] < 0:
            raise MirrorConfigError(f"mirror {name}: tag_ttl must be a duration (300, 5m, 1h), not {ttl!r}")
    for key in ("allow", "deny"):
        if key in table:
            values[key] = _patterns(name, key, table[key])
    if "size_limit" in table:
        try:
            values["size_limit"] = parse_size(str(table["size_limit"]))
        except ValueError as exc:
            raise MirrorConfigError(f"mirror {name}: size_limit: {exc}") from None
    for key in ("public", "prefetch"):
        if key in table:
            if not isinstance(table[key], bool):
                raise MirrorConfigError(f"mirror {name}: {key} must be true or false")
            values[key] = table[key]
    if bool(values.get("username")) != bool(values.get("password")):
        raise MirrorConfigError(f"mirror {name}: username and password go together")
    return Mirror(**values)


def mirrors_from_toml(value: Any) -> tuple[Mirror, ...]:
    """`[mirrors.NAME]` tables (a dict) or `[[mirrors]]` entries with a `name` (a list)."""
    if isinstance(value, dict):
        entries = [(name, table) for name, table in value.items()]
    elif isinstance(value, list):
        entries = []
        for table in value:
            if not isinstance(table, dict) or not isinstance(table.get("name"), str):
                raise MirrorConfigError("every [[mirrors]] entry needs a name")
            entries.append((table["name"], {k: v for k, v in table.items() if k != "name"}))
    else:
        raise MirrorConfigError("mirrors must be tables: [mirrors.NAME] or [[mirrors]]")
    for name, table in entries:
        if not isinstance(table, dict):
            raise MirrorConfigError(f"mirror {name}: must be a table")
    return merge_mirrors((), [mirror_from_table(name, table) for name, table in entries])


def merge_mirrors(base: Sequence[Mirror], more: Iterable[Mirror]) -> tuple[Mirror, ...]:
    """`base` with `more` added; a mirror of `more` replaces one of the same name (flags win over the file)."""
    found = {mirror.name: mirror for mirror in base}
    for mirror in more:
        found[mirror.name] = mirror
    return tuple(found.values())


# -- which upstream a request means -----------------------------------------------------------


def by_prefix(mirrors: Sequence[Mirror], name: str) -> CacheTarget | None:
    """`hub/library/alpine` → (hub, `library/alpine`); None if the first component names no mirror."""
    first, sep, rest = name.partition("/")
    if not sep or not rest:
        return None
    for mirror in mirrors:
        if mirror.name == first:
            return CacheTarget(mirror, rest)
    return None


def _host_matches(mirror: Mirror, ns: str) -> bool:
    host, ns = mirror.host, ns.lower()
    if host == ns:
        return True
    return ns in DOCKER_HUB_HOSTS and host in DOCKER_HUB_HOSTS


def by_ns(mirrors: Sequence[Mirror], ns: str, name: str) -> CacheTarget | None:
    """containerd's `?ns=<upstream host>`: the mirror whose URL has that host (docker.io is Docker Hub's)."""
    for mirror in mirrors:
        if _host_matches(mirror, ns):
            return CacheTarget(mirror, name)
    return None


def docker_hub_repo(image: str) -> str:
    """Docker's normalisation: a one-component name lives in `library/`."""
    return image if "/" in image else f"library/{image}"


def split_dependency_proxy(name: str) -> tuple[str, str] | None:
    """`<group>/dependency_proxy/containers/<image>` → (group, image); None for any other name."""
    group, mark, image = name.partition(DEPENDENCY_PROXY_MARK)
    if not mark or not group or not image:
        return None
    return group, image


def dependency_proxy_mirror(mirrors: Sequence[Mirror], upstream: str = "") -> Mirror | None:
    """The dependency proxy's upstream: `upstream` by name when set, else Docker Hub's mirror."""
    if upstream:
        return next((mirror for mirror in mirrors if mirror.name == upstream), None)
    for wanted in HUB_NAMES:
        found = next((mirror for mirror in mirrors if mirror.name == wanted), None)
        if found is not None:
            return found
    return next((mirror for mirror in mirrors if mirror.host in DOCKER_HUB_HOSTS), None)


def by_dependency_proxy(mirrors: Sequence[Mirror], name: str, upstream: str = "") -> tuple[str, CacheTarget] | None:
    """(group, target) for a Dependency Proxy path; None if `name` is not one or no upstream serves it."""
    split = split_dependency_proxy(name)
    mirror = dependency_proxy_mirror(mirrors, upstream)
    if split is None or mirror is None:
        return None
    group, image = split
    return group, CacheTarget(mirror, docker_hub_repo(image))  # the proxy's upstream plays Docker Hub, library/ and all


def repo_allowed(mirror: Mirror, upstream_repo: str) -> bool:
    """Whether the mirror may fetch `upstream_repo`: a deny pattern wins, then the allow list (none: all)."""
    if any(fnmatch.fnmatchcase(upstream_repo, pattern) for pattern in mirror.deny):
        return False
    return not mirror.allow or any(fnmatch.fnmatchcase(upstream_repo, pattern) for pattern in mirror.allow)


# -- freshness, upstream answers, eviction ----------------------------------------------------


def tag_is_fresh(checked_at: float | None, now: float, ttl: float) -> bool:
    """A cached tag is served without asking upstream while younger than the mirror's tag_ttl."""
    return checked_at is not None and 0 <= now - checked_at < ttl


def upstream_is_down(status: int | None) -> bool:
    """An answer (None: no answer at all) after which a cached copy is served, marked stale."""
    return status is None or status >= 500 or status == 429


STALE_WARNING = '110 - "Response is Stale"'


class CacheStat(NamedTuple):
    """What eviction needs of a cached repository."""

    repo: str
    last_pulled: float
    size: int


def evictions(repositories: Iterable[CacheStat], limit: int | None) -> list[str]:
    """The repositories to remove, least recently pulled first, until the rest fit in `limit` bytes."""
    ordered = sorted(repositories, key=lambda stat: (stat.last_pulled, stat.repo))
    used = sum(stat.size for stat in ordered)
    chosen = []
    for stat in ordered:
        if limit is None or used <= limit:
            break
        chosen.append(stat.repo)
        used -= stat.size
    return chosen


_CHALLENGE_PARAM = re.compile(r'\s*([A-Za-z_]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))\s*,?')


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    """`WWW-Authenticate: Bearer realm="...",service="...",scope="..."` → ("bearer", params)."""
    scheme, _, rest = header.strip().partition(" ")
    params: dict[str, str] = {}
    position = 0
    while position < len(rest):
        match = _CHALLENGE_PARAM.match(rest, position)
        if match is None or match.end() == position:
            break
        quoted, bare = match.group(2), match.group(3)
        params[match.group(1).lower()] = re.sub(r"\\(.)", r"\1", quoted) if quoted is not None else (bare or "")
        position = match.end()
    return scheme.lower(), params


def upstream_failure(mirror: Mirror, what: str, status: int | None, detail: str) -> tuple[ErrorCode, int, str]:
    """(code, status, message) for the client when the upstream could not give `what`."""
    answer = f"answered {status}" if status is not None else "could not be reached"
    message = f"upstream {mirror.name} ({mirror.url}) {answer} for {what}"
    if detail:
        message += f": {detail[:300]}"
    if status == 404:
        return ("MANIFEST_UNKNOWN" if "manifest" in what else "BLOB_UNKNOWN"), 404, message
    if status == 429:
        return "TOOMANYREQUESTS", 429, message
    return "UNKNOWN", 502, message


def descriptor_sizes(document: Any) -> dict[str, int]:
    """digest → size of the descriptors of a manifest document (config, layers, blobs, manifests)."""
    sizes: dict[str, int] = {}
    if not isinstance(document, dict):
        return sizes
    entries = [document.get("config")]
    for key in ("layers", "blobs", "manifests"):
        value = document.get(key)
        if isinstance(value, list):
            entries.extend(value)
    for entry in entries:
        if isinstance(entry, dict) and isinstance(entry.get("digest"), str) and isinstance(entry.get("size"), int):
            sizes[entry["digest"]] = max(0, int(entry["size"]))
    return sizes


def prefetch_digests(document: Any, limit: int) -> list[str]:
    """The blobs worth fetching as soon as an image manifest came from upstream, in the order its
    client asks for them: the config, then the layers, at most `limit`. None for an index (its
    client picks one platform's manifest first) or anything else."""
    if not isinstance(document, dict) or "manifests" in document:
        return []
    entries = [document.get("config")]
    layers = document.get("layers")
    if isinstance(layers, list):
        entries.extend(layers)
    found: list[str] = []
    for entry in entries:
        digest = entry.get("digest") if isinstance(entry, dict) else None
        if isinstance(digest, str) and digest not in found:
            found.append(digest)
    return found[:limit]

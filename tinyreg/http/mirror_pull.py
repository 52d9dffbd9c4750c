"""The pull-through cache on `/v2/`: which requests it takes, and how each is answered.

A request names a cached repository by a mirror's path prefix, by containerd's `?ns=`, or
by a group's Dependency Proxy path (see `registry/mirrors.py`). Manifests and blobs asked by
digest are served from the cache without asking upstream; a tag is served from the cache
while younger than its mirror's `tag_ttl`, then checked with a HEAD (same
Docker-Content-Digest: still fresh). When upstream cannot answer (unreachable, 5xx, 429)
whatever is cached is served with `Warning: 110 - "Response is Stale"`; what is not cached
fails with an error naming the upstream and its answer. Concurrent requests for the same
manifest or blob make one upstream request (single flight).

An image manifest fetched from upstream starts the fetch of its config and first layers before
it is answered (the mirror's `prefetch`): the upstream's round trips and the first bytes then
overlap the client's own turn, which a pull through the cache would otherwise add to a direct
one. What a prefetch reads before its client comes is kept for it, up to a bound (see
`mirror_blobs.py`); a failed prefetch answers nobody: its client's request fetches again.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, NamedTuple, TypeVar

import httpx
import trio

from tinyreg.access.policy import ANONYMOUS, CacheAccess, cache_actions, explain_cache_refusal, required_actions
from tinyreg.http import blobs, listings
from tinyreg.http.asgi import Request, Response
from tinyreg.http.manifests import manifest_response
from tinyreg.http.mirror_blobs import PREFETCH_HOLD, BlobFlight
from tinyreg.http.mirror_upstream import Upstream, UpstreamUnreachable, content_length, error_detail, use_large_reads
from tinyreg.registry.cache import CacheHits
from tinyreg.registry.core import Registry
from tinyreg.registry.errors import RegistryError
from tinyreg.registry.manifests import MANIFEST_MAX_BYTES, digested_bytes, parse_manifest
from tinyreg.registry.mirrors import (
    STALE_WARNING,
    CacheTarget,
    Mirror,
    by_dependency_proxy,
    by_ns,
    by_prefix,
    descriptor_sizes,
    prefetch_digests,
    repo_allowed,
    tag_is_fresh,
    upstream_failure,
    upstream_is_down,
)
from tinyreg.registry.names import Digest, check_tag, looks_like_digest, parse_digest
from tinyreg.registry.repository import StoredManifest

log = logging.getLogger("tinyreg.mirror")
T = TypeVar("T")
UPSTREAM_CONNECTIONS = 32
HIT_FLUSH_INTERVAL = 1.0  # seconds between two writes of the hit counts (eviction's order lags by that much)
PREFETCH_BLOBS = 4  # blobs of a manifest fetched ahead of its client: the config and the first layers
PREFETCH_FLIGHTS = 8  # no prefetch starts while this many blob fetches run (each may hold a backlog)


class Resolved(NamedTuple):
    """A request for a cached repository: its target, and the name access is decided on."""

    target: CacheTarget
    access_name: str


class UpstreamFailed(Exception):
    """Upstream gave no usable answer: its status (None: no answer at all) and what it said."""

    def __init__(self, status: int | None, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


class _Flight:
    def __init__(self) -> None:
        self.done = trio.Event()
        self.result: Any = None
        self.error: BaseException | None = None


class PullThrough:
    """The pull-through cache of one server: its upstream client, fetches and flights."""

    def __init__(self, registry: Registry, mirrors: tuple[Mirror, ...], dependency_proxy_upstream: str = "") -> None:
        self.registry = registry
        self.cache = registry.cache
        self.mirrors = mirrors
        self.dependency_proxy_upstream = dependency_proxy_upstream
        self.upstreams: dict[str, Upstream] = {}
        self._nursery: trio.Nursery | None = None
        self._manifest_flights: dict[tuple[str, str], _Flight] = {}
        self._blob_flights: dict[str, BlobFlight] = {}
        self._hits: dict[CacheTarget, CacheHits] = {}

    async def run(self, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Own the upstream client and the blob fetches until cancelled (the server's nursery runs this)."""
        limits = httpx.Limits(max_connections=UPSTREAM_CONNECTIONS, max_keepalive_connections=UPSTREAM_CONNECTIONS // 2)
        timeout = httpx.Timeout(60.0, connect=10.0)
        use_large_reads()
        async with httpx.AsyncClient(limits=limits, timeout=timeout) as client:
            self.upstreams = {mirror.name: Upstream(mirror, client) for mirror in self.mirrors}
            try:
                async with trio.open_nursery() as nursery:
                    self._nursery = nursery
                    task_status.started()
                    while True:
                        await trio.sleep(HIT_FLUSH_INTERVAL)
                        self.flush_hits()
            finally:
                self.flush_hits()

    def flush_hits(self) -> None:
        """Record the cache hits counted since the last flush."""
        hits, self._hits = self._hits, {}
        try:
            self.cache.record_hits(hits)
        except Exception:  # counting must never stop serving; these hits are lost
            log.exception("recording %d cached repositories' hits failed", len(hits))

    def _hit(self, target: CacheTarget, tag: str | None, *, confirmed: bool = False) -> None:
        self._hits.setdefault(target, CacheHits()).add(tag, confirmed=confirmed)

    # -- which requests are the cache's --------------------------------------------------------

    def resolve(self, name: str, ns: str | None) -> Resolved | None:
        """The cached repository a `/v2/` request names, or None for an ordinary repository."""
        if ns:
            target = by_ns(self.mirrors, ns, name)
            if target is not None:
                return Resolved(target, target.local_repo)
        proxied = by_dependency_proxy(self.mirrors, name, self.dependency_proxy_upstream)
        if proxied is not None:
            return Resolved(proxied[1], name)
        target = by_prefix(self.mirrors, name)
        return Resolved(target, name) if target is not None else None

    async def serve(self, request: Request, resolved: Resolved, resource: str, reference: str, *, checked: bool) -> Response:
        """Answer a request for a cached repository; `checked`: the guard of --auth allowed it already."""
        target = resolved.target
        needed = required_actions(resource, request.method)
        if not checked:  # an open registry: anyone may pull, nobody may push to the cache
            cache = CacheAccess(target.mirror.name, target.mirror.url, public=True)
            if needed - cache_actions(ANONYMOUS, cache, needed):
                reason = explain_cache_refusal(ANONYMOUS, cache, needed, repo=resolved.access_name)
                raise RegistryError("DENIED", reason, detail={"name": resolved.access_name})
        if resource == "tags":
            return await listings.TAG_HANDLERS["GET"](self.registry, request, target.local_repo, reference)
        if resource == "referrers":
            return await listings.REFERRER_HANDLERS["GET"](self.registry, request, target.local_repo, reference)
        if not repo_allowed(target.mirror, target.upstream_repo):
            raise RegistryError(
                "DENIED",
                f"mirror {target.mirror.name} does not serve {target.upstream_repo} (its allow/deny settings)",
                detail={"name": resolved.access_name},
            )
        if resource == "manifests":
            return await self._manifest(target, reference)
        return await self._blob(request, target, reference)

    # -- manifests -----------------------------------------------------------------------------

    async def _manifest(self, target: CacheTarget, reference: str) -> Response:
        digest = str(parse_digest(reference)) if looks_like_digest(reference) else None
        tag = None if digest is not None else check_tag(reference)
        cached = self.cache.find_manifest(target, reference, digest=digest)
        if cached is not None and (tag is None or tag_is_fresh(cached.checked_at, time.time(), target.mirror.tag_ttl)):
            self._hit(target, tag)
            return manifest_response(cached.manifest)
        try:
            if cached is not None:
                status, headers = await self._head(target, "manifests", reference)
                if status == 200 and headers.get("docker-content-digest") == cached.manifest.digest:
                    self._hit(target, tag, confirmed=True)
                    return manifest_response(cached.manifest)
                if status != 200:
                    raise UpstreamFailed(status, "")
            fetched = await self._single_flight(
                self._manifest_flights, (target.local_repo, reference), lambda: self._fetch_manifest(target, reference, tag)
            )
        except UpstreamFailed as failed:
            if cached is not None and upstream_is_down(failed.status):
                self._hit(target, tag)
                response = manifest_response(cached.manifest)
                response.headers["Warning"] = STALE_WARNING
                return response
            raise self._failure(target, f"manifest {target.upstream_repo}:{reference}", failed) from None
        return manifest_response(fetched)

    async def _fetch_manifest(self, target: CacheTarget, reference: str, tag: str | None) -> StoredManifest:
        response = await self._open("GET", target, "manifests", reference)
        try:
            if response.status_code != 200:
                raise UpstreamFailed(response.status_code, await error_detail(response))
            data = bytearray()
            async for chunk in response.aiter_bytes():
                data += chunk
                if len(data) > MANIFEST_MAX_BYTES:
                    raise UpstreamFailed(response.status_code, f"manifest larger than {MANIFEST_MAX_BYTES} bytes")
        except httpx.HTTPError as exc:
            raise UpstreamFailed(None, str(exc)) from None
        finally:
            await response.aclose()
        body = bytes(data)
        what = f"manifest {target.upstream_repo}:{reference}"
        try:
            parsed = parse_manifest(body, response.headers.get("content-type"))
        except RegistryError as exc:
            raise self._bad_answer(target, what, exc.message) from None
        wanted = parse_digest(reference) if looks_like_digest(reference) else None
        actual = Digest.of(digested_bytes(body, parsed.media_type), wanted.algorithm if wanted else "sha256")
        announced = response.headers.get("docker-content-digest")
        if (wanted is not None and actual != wanted) or (
            announced and announced.startswith(f"{actual.algorithm}:") and announced != str(actual)
        ):
            raise self._bad_answer(target, what, f"its bytes have digest {actual}, not {wanted or announced}")
        document = json.loads(body)
        if target.mirror.prefetch:  # first: the upstream requests go out while the manifest is stored and sent
            self._prefetch(target, prefetch_digests(document, PREFETCH_BLOBS))
        # Committed before the answer (a 200 means the repository is cached, for the admin's views
        # too), in a worker thread: the commit's sync (~1 ms, more on a busy disk) leaves the event
        # loop to the prefetches' requests and to other clients.
        sizes = descriptor_sizes(document)
        await trio.to_thread.run_sync(self.cache.store_manifest, target, tag, str(actual), body, parsed, sizes)
        self._evict(target.mirror)
        return StoredManifest(str(actual), parsed.media_type, body)

    # -- blobs ---------------------------------------------------------------------------------

    async def _blob(self, request: Request, target: CacheTarget, reference: str) -> Response:
        digest = parse_digest(reference)
        what = f"blob {digest} of {target.upstream_repo}"
        for _ in range(3):  # bounded: a flight ends, and then the blob is there or the fetch failed
            if self.cache.has_blob(target, digest):
                return await blobs.get_blob(self.registry, request, target.local_repo, reference)
            flight = self._blob_flights.get(str(digest))
            if flight is None:
                break
            await flight.ready.wait()
            if request.method == "GET":
                stream = flight.subscribe()
                if stream is not None:  # its bytes have not started: this client gets them as they come
                    return Response(200, _blob_headers(digest, flight.length), stream=stream)
            elif flight.error is None and flight.length is not None:
                return Response(200, _blob_headers(digest, flight.length))  # what a HEAD upstream would say
            await flight.done.wait()
            if flight.error is not None and not flight.prefetch:
                raise flight.error
        else:
            raise RegistryError("UNKNOWN", f"fetching {what} from upstream was interrupted; try again", status=503)
        known = self.cache.stored_size(digest)
        if known is None and request.method == "GET":
            return await self._fetch_blob(target, digest, what)
        try:  # a HEAD, or bytes stored for another repository: upstream says whether this one has the blob
            status, headers = await self._head(target, "blobs", str(digest))
        except UpstreamFailed as failed:
            raise self._failure(target, what, failed) from None
        if status != 200:
            raise self._failure(target, what, UpstreamFailed(status, ""))
        if known is not None:
            self.cache.link(target, digest, known)
            return await blobs.get_blob(self.registry, request, target.local_repo, reference)
        return Response(200, _blob_headers(digest, content_length(headers)))

    async def _fetch_blob(self, target: CacheTarget, digest: Digest, what: str) -> Response:
        flight = self._blob_flights[str(digest)] = BlobFlight()  # before any await: later requests wait for it
        await self._start_flight(target, digest, what, flight)
        stream = flight.subscribe()
        assert stream is not None  # nothing was relayed yet: the fill starts at the next checkpoint
        return Response(200, _blob_headers(digest, flight.length), stream=stream)

    def _prefetch(self, target: CacheTarget, digests: list[str]) -> None:
        """Start the fetch of the blobs that are neither stored nor being fetched, in the
        server's nursery; each is a flight its client's request finds."""
        assert self._nursery is not None
        previous: BlobFlight | None = None
        for text in digests:
            if len(self._blob_flights) >= PREFETCH_FLIGHTS:
                return
            try:
                digest = parse_digest(text)
            except RegistryError:
                continue
            if str(digest) in self._blob_flights or self.cache.stored_size(digest) is not None:
                continue
            flight = self._blob_flights[str(digest)] = BlobFlight(hold=PREFETCH_HOLD)
            after = previous.settled if previous is not None else None
            self._nursery.start_soon(self._run_prefetch, target, digest, flight, after)
            previous = flight

    async def _run_prefetch(self, target: CacheTarget, digest: Digest, flight: BlobFlight, after: trio.Event | None) -> None:
        what = f"blob {digest} of {target.upstream_repo}"
        try:
            await self._start_flight(target, digest, what, flight, after)
        except RegistryError as error:  # nobody's answer: a client's request for it fetches again
            log.info("prefetch of %s failed: %s", what, error.message)

    async def _start_flight(
        self, target: CacheTarget, digest: Digest, what: str, flight: BlobFlight, after: trio.Event | None = None
    ) -> None:
        """Send the flight's GET upstream and start its fill in the server's nursery (`ready` set);
        if no answer with the blob came, end the flight with the error and raise it."""
        try:
            try:
                response = await self._open("GET", target, "blobs", str(digest))
            except UpstreamFailed as failed:
                raise self._failure(target, what, failed) from None
            if response.status_code != 200:
                refused = UpstreamFailed(response.status_code, await error_detail(response))
                await response.aclose()
                raise self._failure(target, what, refused)
        except BaseException as exc:
            flight.error = exc if isinstance(exc, RegistryError) else RegistryError("UNKNOWN", "the fetch stopped", status=503)
            if self._blob_flights.get(str(digest)) is flight:
                del self._blob_flights[str(digest)]
            flight.ready.set()
            flight.done.set()
            raise
        flight.length = length = content_length(response.headers)
        flight.ready.set()

        async def commit(size: int) -> None:
            await trio.to_thread.run_sync(self.cache.link, target, digest, size)  # its sync off the event loop
            self._evict(target.mirror)

        async def fill() -> None:
            try:
                await flight.fill(self.registry.store, response, digest, length, commit, after)
            finally:
                if self._blob_flights.get(str(digest)) is flight:
                    del self._blob_flights[str(digest)]

        assert self._nursery is not None
        self._nursery.start_soon(fill)

    # -- upstream ------------------------------------------------------------------------------

    async def _open(self, method: str, target: CacheTarget, kind: str, reference: str) -> httpx.Response:
        try:
            return await self.upstreams[target.mirror.name].open(method, target.upstream_repo, kind, reference)
        except UpstreamUnreachable as exc:
            raise UpstreamFailed(None, str(exc)) from None

    async def _head(self, target: CacheTarget, kind: str, reference: str) -> tuple[int, httpx.Headers]:
        """HEAD upstream: its status and headers; UpstreamFailed when it could not answer."""
        response = await self._open("HEAD", target, kind, reference)
        await response.aclose()
        if upstream_is_down(response.status_code):
            raise UpstreamFailed(response.status_code, "")
        return response.status_code, response.headers

    async def _single_flight(self, flights: dict[Any, _Flight], key: Any, fetch: Callable[[], Awaitable[T]]) -> T:
        """`fetch()` once for concurrent callers with the same key: the others wait for its result."""
        for _ in range(3):  # a leader cancelled (its client gone) hands over to a waiter
            flight = flights.get(key)
            if flight is None:
                flight = flights[key] = _Flight()
                try:
                    flight.result = await fetch()
                    return flight.result  # type: ignore[no-any-return]  # the flight holds what fetch returned
                except BaseException as exc:
                    flight.error = exc
                    raise
                finally:
                    del flights[key]
                    flight.done.set()
            await flight.done.wait()
            if flight.error is None:
                return flight.result  # type: ignore[no-any-return]  # as above
            if isinstance(flight.error, UpstreamFailed | RegistryError):
                raise flight.error
        raise RegistryError("UNKNOWN", "the fetch from upstream was interrupted; try again", status=503)

    def _failure(self, target: CacheTarget, what: str, failed: UpstreamFailed) -> RegistryError:
        code, status, message = upstream_failure(target.mirror, what, failed.status, failed.detail)
        return RegistryError(code, message, status=status)

    def _bad_answer(self, target: CacheTarget, what: str, reason: str) -> RegistryError:
        message = f"upstream {target.mirror.name} ({target.mirror.url}) sent a bad {what}: {reason}; nothing was stored"
        return RegistryError("UNKNOWN", message, status=502)

    def _evict(self, mirror: Mirror) -> None:
        if mirror.size_limit is None:
            return
        self.flush_hits()  # eviction goes by the last pulls: the counted ones too
        for repo in self.cache.evict(mirror):
            log.info("mirror %s over its size limit: evicted %s", mirror.name, repo)


def _blob_headers(digest: Digest, length: int | None) -> dict[str, str]:
    headers = {"Content-Type": "application/octet-stream", "Docker-Content-Digest": str(digest)}
    if length is not None:
        headers["Content-Length"] = str(length)
    return headers

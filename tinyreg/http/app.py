"""The ASGI application: route `/v2/` requests to their resource, everything else to the web app.

Errors raised anywhere below become the spec's JSON here and nowhere else. One access-log
line is written per request: client, method, path, status, body bytes, duration, request id;
every response carries that id as `X-Request-Id`. The operators' endpoints (`/readyz`) are
answered here too (see `http/ops.py`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from tinyreg.http import blobs, listings, manifests, ops, uploads
from tinyreg.http.asgi import ClientDisconnected, Receive, Request, Response, ResponseAborted, Scope, Send, send_response
from tinyreg.http.errors import error_response, internal_error
from tinyreg.http.metrics import Metrics
from tinyreg.http.request_ids import SCOPE_KEY, request_id
from tinyreg.http.routes import classify
from tinyreg.registry.aliases import push_refusal
from tinyreg.registry.core import Registry
from tinyreg.registry.errors import RegistryError
from tinyreg.registry.names import check_name
from tinyreg.registry.offload import call_meta

if TYPE_CHECKING:
    from tinyreg.access.control import AccessControl
    from tinyreg.http.auth import Guard
    from tinyreg.http.mirror_pull import PullThrough
    from tinyreg.http.token import TokenEndpoint

Handler = Callable[[Registry, Request, str, str], Awaitable[Response]]

access_log = logging.getLogger("tinyreg.access")
error_log = logging.getLogger("tinyreg.error")


async def _base(registry: Registry, request: Request, name: str, reference: str) -> Response:
    return Response(200, {"Content-Type": "application/json"}, b"{}")


ROUTES: dict[str, Mapping[str, Handler]] = {
    "base": {"GET": _base, "HEAD": _base},
    "catalog": listings.CATALOG_HANDLERS,
    "tags": listings.TAG_HANDLERS,
    "manifests": manifests.HANDLERS,
    "blobs": blobs.HANDLERS,
    "uploads": uploads.SESSION_HANDLERS,
    "upload_start": uploads.START_HANDLERS,
    "referrers": listings.REFERRER_HANDLERS,
}

#: Resources whose handlers read a moved repository's alias themselves, for these methods.
FOLLOW_ALIASES = {"manifests": manifests.FOLLOW_ALIASES, "blobs": blobs.FOLLOW_ALIASES}


class RegistryApp:
    """The whole HTTP surface of one registry, as an ASGI callable."""

    def __init__(
        self,
        registry: Registry,
        *,
        access: AccessControl | None = None,
        realm: str | None = None,
        access_log_enabled: bool = True,
        external_url: str = "",
        ops_settings: ops.OpsSettings | None = None,
        pull_through: PullThrough | None = None,
    ) -> None:
        self.registry = registry
        self.pull_through = pull_through
        ops_settings = ops_settings or ops.OpsSettings()
        self.metrics = None if ops_settings.metrics == "off" else Metrics(ops_settings.workers, ops_settings.peers)
        self.access = access
        self.external_url = external_url
        self.access_log_enabled = access_log_enabled
        self.guard: Guard | None = None
        self.tokens: TokenEndpoint | None = None
        if access is not None:  # imported only with --auth: an open registry starts faster
            from tinyreg.http.auth import Guard
            from tinyreg.http.token import TokenEndpoint

            self.guard, self.tokens = Guard(access, realm), TokenEndpoint(access)
        self._web: Any = None
        self.ops = ops.OpsContext(registry, ops_settings, access, self.metrics)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path = scope["path"]
            if path.startswith("/v2") or (path == "/token" and self.tokens is not None) or path in ops.HANDLERS:
                await self._serve_api(scope, receive, send)
            else:
                await self._serve_page(scope, receive, send)
        elif scope["type"] == "lifespan":
            await _lifespan(receive, send)

    def _web_app(self) -> Any:
        if self._web is None:  # Quart is imported on the first page request, not at start-up
            from tinyreg.http.web import create_web_app
            from tinyreg.http.webcontext import WebContext

            mirrors = self.pull_through.mirrors if self.pull_through is not None else ()
            self._web = create_web_app(WebContext(self.registry, self.access, self.external_url, mirrors))
        return self._web

    async def _serve_page(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass a request to the web app, adding its request id and noting its status and body bytes for the access log."""
        started = time.perf_counter()
        rid = request_id(scope["headers"])
        scope = {**scope, SCOPE_KEY: rid}  # an event the page or API call causes names it
        seen = {"status": 499, "sent": 0}  # a client gone before the answer started is logged as 499

        async def counting_send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                seen["status"] = message["status"]
                message = {**message, "headers": [*message.get("headers", ()), (b"x-request-id", rid.encode())]}
            elif message["type"] == "http.response.body":
                seen["sent"] += len(message.get("body", b""))
            await send(message)

        try:
            await self._web_app()(scope, receive, counting_send)
        finally:
            request = Request(scope, receive)
            if self.metrics is not None:
                self.metrics.observe(request, seen["status"], seen["sent"], time.perf_counter() - started)
            if self.access_log_enabled:
                self._log(request, seen["status"], seen["sent"], started, rid)

    async def _serve_api(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        request = Request(scope, receive)
        rid = request.request_id = request_id(scope["headers"])
        head_only = request.method == "HEAD"
        try:
            response = await self._dispatch(request)
        except RegistryError as error:
            response = error_response(error)
            if request.has_unread_body:  # do not leave the rest of the body to be read as a request
                response.headers["Connection"] = "close"
        except ClientDisconnected:
            if self.access_log_enabled:
                self._log(request, 499, 0, started, rid)
            if self.metrics is not None:
                self.metrics.observe(request, 499, 0, time.perf_counter() - started)
            return
        except Exception:
            error_log.exception("%s %s failed", request.method, request.path, extra={"fields": {"request_id": rid}})
            response = internal_error()
        response.headers["X-Request-Id"] = rid
        try:
            sent = await send_response(send, response, head_only=head_only)
        except ResponseAborted as aborted:  # returning without the body's end makes the server close the connection
            error_log.warning(
                "%s %s aborted mid-body: %s", request.method, request.path, aborted, extra={"fields": {"request_id": rid}}
            )
            sent = -1
        if sent < 0:
            return
        if self.metrics is not None:
            self.metrics.observe(request, response.status, sent, time.perf_counter() - started)
        if self.access_log_enabled:
            self._log(request, response.status, sent, started, rid)

    async def _dispatch(self, request: Request) -> Response:
        serve_ops = ops.HANDLERS.get(request.path)
        if serve_ops is not None:
            if request.method not in ("GET", "HEAD"):
                raise RegistryError("UNSUPPORTED", f"{request.method} is not allowed here", headers={"Allow": "GET"})
            return await serve_ops(self.ops, request)
        if request.path == "/token" and self.tokens is not None:
            if request.method == "POST":
                return await self.tokens.post(request)
            if request.method in ("GET", "HEAD"):
                return await self.tokens.get(request)
            raise RegistryError("UNSUPPORTED", f"{request.method} is not allowed here", headers={"Allow": "GET, POST"})
        route = request.route = classify(request.path)
        if route is None:
            raise RegistryError("NOT_FOUND", f"no endpoint at {request.path[:200]}")
        resource = route.resource
        if resource == "uploads" and not route.reference:
            resource = "upload_start"
        handler = ROUTES[resource].get(request.method)
        if handler is None:
            allowed = ", ".join(ROUTES[resource])
            raise RegistryError("UNSUPPORTED", f"{request.method} is not allowed here", headers={"Allow": allowed})
        name, reference = unquote(route.name), unquote(route.reference)
        alias = None
        if name:
            check_name(name)
        if self.pull_through is not None and name:
            resolved = self.pull_through.resolve(name, request.query("ns"))
            if resolved is not None:
                if self.guard is not None:
                    await self.guard.authorize(request, route._replace(name=resolved.access_name, reference=reference))
                return await self.pull_through.serve(request, resolved, route.resource, reference, checked=self.guard is not None)
        if name and request.method not in FOLLOW_ALIASES.get(resource, ()):
            alias = await call_meta(self.registry.meta, self.registry.alias_of, name)
        if resource == "uploads":
            # Before the guard: the old name grants no push.
            await call_meta(self.registry.meta, self.registry.uploads.check_not_moved, name, reference)
        if self.guard is not None:
            request.actor = (await self.guard.authorize(request, route._replace(name=name, reference=reference))).name
        if alias is not None:  # the old name of a moved repository: read-only, answered by the new one
            if request.method not in ("GET", "HEAD"):
                raise RegistryError("DENIED", push_refusal(name, alias), detail={"name": name, "moved_to": alias["target"]})
            name = alias["target"]
        return await handler(self.registry, request, name, reference)

    def _log(self, request: Request, status: int, sent: int, started: float, rid: str) -> None:
        client = (request.scope.get("client") or ("-", 0))[0]
        duration_ms = round((time.perf_counter() - started) * 1000, 1)
        method, path = request.method, request.path
        fields = {"client": client, "method": method, "path": path, "status": status, "bytes": sent}
        fields.update(duration_ms=duration_ms, request_id=rid)
        access_log.info(
            '%s "%s %s" %d %d %.1fms %s', client, method, path, status, sent, duration_ms, rid, extra={"fields": fields}
        )


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return

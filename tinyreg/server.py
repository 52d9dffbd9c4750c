"""Run the registry: hypercorn (trio worker) around the ASGI app, plus its housekeeping.

`serve` is a trio task in the `task_status.started` style: it reports the URL it listens on
(so port 0 works) and returns once `stop` is set and open requests have finished.
"""

from __future__ import annotations

import logging
from contextlib import ExitStack
from functools import partial
from pathlib import Path
from typing import Any

import trio

from tinyreg.config import Settings, exposure_warning, s3_options
from tinyreg.http.app import RegistryApp
from tinyreg.http.ops import OpsSettings
from tinyreg.registry.core import Registry
from tinyreg.registry.offload import call_store

log = logging.getLogger("tinyreg")


def first_os_error(exc: BaseException) -> OSError | None:
    """The first OSError in `exc` or in the exception groups it nests."""
    if isinstance(exc, OSError):
        return exc
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            found = first_os_error(inner)
            if found is not None:
                return found
    return None


def _bind_address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def registry_options(settings: Settings) -> dict[str, Any]:
    """What `Registry` takes from the settings besides the data directory: limits and where blobs live."""
    return {
        "default_size_limit": settings.size_limit_bytes(),
        "blobs": settings.blobs,
        "s3": s3_options(settings),
        "blob_redirects": settings.blobs_redirect,
        "notifications": settings.notifications,
        "move_alias_days": settings.move_alias_days,
        "metadata": settings.metadata,
    }


def no_user_warning(settings: Settings) -> str:
    """What to do when --auth is on and nobody can log in."""
    return (
        "--auth is on and there are no users yet, so nobody can log in. Add one (this works while the server runs): "
        f"tinyreg user add admin --admin --data {settings.data}"
    )


def banner_lines(settings: Settings, url: str, users: int, workers: int) -> list[str]:
    """The lines printed once the registry listens: URL, data directory, and who may do what."""
    from tinyreg import __version__
    from tinyreg.storage.pg.urls import redact

    if settings.auth:
        auth = f"on, {users} user{'' if users == 1 else 's'}" + ("" if users else " (nobody can log in yet)")
    else:
        auth = "off: anyone who can reach it may pull, push and delete (--auth to require users)"
    return [
        f"tinyreg {__version__} listening on {url}" + (f" with {workers} workers" if workers > 1 else ""),
        f"  data directory: {settings.data}",
        *([f"  metadata: {redact(settings.metadata)}"] if settings.metadata else []),
        f"  auth: {auth}",
    ]


def hypercorn_config(settings: Settings) -> Any:
    from hypercorn.config import Config

    from tinyreg.connections import HEAD_LIMIT

    config = Config()
    config.bind = [_bind_address(settings.host, settings.port)]
    config.accesslog = None  # the app writes its own access log
    config.errorlog = logging.getLogger("hypercorn.error")
    config.keep_alive_timeout = 75
    config.read_timeout = 300  # a client silent this long mid-request is gone: free its upload
    config.graceful_timeout = 5
    config.h11_max_incomplete_size = HEAD_LIMIT  # a longer request head is answered 431 and closed
    config.include_server_header = False
    return config


def refuse_ambiguous_length(app: Any) -> Any:
    """Answer 400 and close to a request with both Content-Length and Transfer-Encoding.

    h11 lets Transfer-Encoding win, as HTTP/1.1 allows; a proxy in front that believes
    Content-Length instead would see a different request boundary (request smuggling).
    """
    from tinyreg.http.asgi import send_response
    from tinyreg.http.errors import error_response
    from tinyreg.registry.errors import RegistryError

    async def guarded(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            names = {name.lower() for name, _ in scope["headers"]}
            if b"content-length" in names and b"transfer-encoding" in names:
                error = RegistryError(
                    "SIZE_INVALID", "Content-Length and Transfer-Encoding together", headers={"Connection": "close"}
                )
                await send_response(send, error_response(error))
                return
        await app(scope, receive, send)

    return guarded


async def _expire_uploads(registry: Registry, settings: Settings) -> None:
    while True:
        try:
            expired = await call_store(registry.store, registry.uploads.expire, settings.upload_ttl)
        except Exception:  # a failed sweep is retried at the next one; it must not stop serving
            log.exception("sweeping expired uploads failed")
        else:
            if expired:
                log.info("removed %d expired uploads", len(expired))
        await trio.sleep(settings.sweep_interval)


async def serve(
    settings: Settings,
    *,
    registry: Registry | None = None,
    sockets: Any = None,
    stop: trio.Event | None = None,
    workers: int = 1,
    metrics_dir: Path | None = None,
    task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve the registry of `settings.data` until `stop` is set; report the base URL when listening.

    Pass an open `registry` to keep using it afterwards (the caller then closes it), and
    already bound, listening `sockets` (hypercorn's `Sockets`) when several workers share them;
    they then say how many they are (`workers`) and where they share their metrics (`metrics_dir`).
    """
    from hypercorn.utils import wrap_app

    from tinyreg.connections import serve_connections

    if stop is None:
        stop = trio.Event()
    reloader = None
    if settings.serves_tls:
        from tinyreg.tls import CertificateReloader, resolve_tls

        settings = resolve_tls(settings)
        reloader = CertificateReloader(Path(settings.tls_cert), Path(settings.tls_key))
    if (warning := exposure_warning(settings)) is not None:
        log.warning("%s", warning)
    peers = None
    if metrics_dir is not None:
        from tinyreg.metrics_share import SharedCounts

        peers = SharedCounts(metrics_dir)
    owned = registry is None
    if registry is None:
        registry = Registry(settings.data, **registry_options(settings))
    from tinyreg.storage.lmdb_maintenance import serving

    # Held while serving, shared by the workers: `tinyreg db compact` refuses while it is taken.
    in_use = ExitStack()
    try:
        in_use.enter_context(serving(registry.data_dir))
        access = None
        if settings.auth:
            from tinyreg.access.control import AccessControl, AuthSettings

            auth_settings = AuthSettings(service=settings.service, issuer=settings.service, token_ttl=settings.token_ttl)
            access = AccessControl(
                registry.meta,
                registry.data_dir,
                auth_settings,
                mirrors=settings.mirrors,
                dependency_proxy_upstream=settings.dependency_proxy_upstream,
                keys_dir=Path(settings.keys_dir).absolute() if settings.keys_dir else None,
            )
        pull_through = None
        if settings.mirrors:  # imported only then: an open registry without mirrors loads no access rules
            from tinyreg.http.mirror_pull import PullThrough

            pull_through = PullThrough(registry, settings.mirrors, settings.dependency_proxy_upstream)
        app = RegistryApp(
            registry,
            access=access,
            realm=settings.realm or None,
            access_log_enabled=settings.access_log,
            external_url=settings.external_url,
            ops_settings=OpsSettings(settings.min_free_disk_mib * 1024 * 1024, settings.metrics, workers, peers),
            pull_through=pull_through,
        )
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_expire_uploads, registry, settings)
            if pull_through is not None:
                await nursery.start(pull_through.run)
            if reloader is not None:
                nursery.start_soon(reloader.watch, settings.tls_reload_interval)
            if app.metrics is not None and metrics_dir is not None:
                nursery.start_soon(app.metrics.share)

            async def run_http(task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED) -> None:
                try:
                    config = hypercorn_config(settings)
                    await serve_connections(
                        wrap_app(refuse_ambiguous_length(app), config.wsgi_max_body_size, None),
                        config,
                        send_timeout=settings.send_timeout,
                        sockets=sockets,
                        stop=stop,
                        ssl_context=None if reloader is None else reloader.context,
                        task_status=task_status,
                    )
                finally:
                    nursery.cancel_scope.cancel()

            binds = await nursery.start(partial(run_http))
            # Housekeeping starts once the listener is up: a start-up failure leaves nothing half-done.
            from tinyreg.housekeeping import holder_id, run_cleanup_scheduler, run_online_gc

            count = None if app.metrics is None else app.metrics.count_housekeeping
            nursery.start_soon(run_cleanup_scheduler, registry, settings, holder_id(), count)
            if settings.gc_interval > 0:
                nursery.start_soon(run_online_gc, registry, settings, count)
            from tinyreg.delivery import Delivery, run_pull_flusher

            registry.notifier.listening_on(binds[0])
            nursery.start_soon(run_pull_flusher, registry.notifier)
            await nursery.start(Delivery(registry.meta, registry.notifier, holder_id()).run)
            task_status.started(binds[0])
    finally:
        in_use.close()
        if owned:
            registry.close()

"""Run the registry: hypercorn (trio worker) around the ASGI app, plus its housekeeping.

`serve` is a trio task in the `task_status.started` style: it reports the URL it listens on
(so port 0 works) and returns once `stop` is set and open requests have finished.
"""

from __future__ import annotations

import logging
from functools import partial
from typing import Any

import trio

from tinyreg.config import Settings
from tinyreg.http.app import RegistryApp
from tinyreg.registry.core import Registry

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


def no_user_warning(settings: Settings) -> str:
    """What to do when --auth is on and nobody can log in."""
    return (
        "--auth is on and there are no users yet, so nobody can log in. Add one (this works while the server runs): "
        f"tinyreg user add admin --admin --data {settings.data}"
    )


def banner_lines(settings: Settings, url: str, users: int, workers: int) -> list[str]:
    """The lines printed once the registry listens: URL, data directory, and who may do what."""
    from tinyreg import __version__

    if settings.auth:
        auth = f"on, {users} user{'' if users == 1 else 's'}" + ("" if users else " (nobody can log in yet)")
    else:
        auth = "off: anyone who can reach it may pull, push and delete (--auth to require users)"
    return [
        f"tinyreg {__version__} listening on {url}" + (f" with {workers} workers" if workers > 1 else ""),
        f"  data directory: {settings.data}",
        f"  auth: {auth}",
    ]


RECEIVE_SIZE = 1024 * 1024


def hypercorn_config(settings: Settings) -> Any:
    import hypercorn.trio.tcp_server
    from hypercorn.config import Config

    # hypercorn reads 64 KiB at a time; a blob upload then costs a trip through h11 and the
    # app's queue per 64 KiB. Larger reads cut that per-byte overhead.
    hypercorn.trio.tcp_server.MAX_RECV = RECEIVE_SIZE  # type: ignore[attr-defined]

    config = Config()
    config.bind = [_bind_address(settings.host, settings.port)]
    config.accesslog = None  # the app writes its own access log
    config.errorlog = logging.getLogger("hypercorn.error")
    config.keep_alive_timeout = 75
    config.read_timeout = 300  # a client silent this long mid-request is gone: free its upload
    config.graceful_timeout = 5
    config.include_server_header = False
    return config


async def _expire_uploads(registry: Registry, settings: Settings) -> None:
    while True:
        try:
            expired = registry.uploads.expire(settings.upload_ttl)
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
    task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve the registry of `settings.data` until `stop` is set; report the base URL when listening.

    Pass an open `registry` to keep using it afterwards (the caller then closes it), and
    already bound, listening `sockets` (hypercorn's `Sockets`) when several workers share them.
    """
    from hypercorn.trio.run import worker_serve
    from hypercorn.utils import wrap_app

    if stop is None:
        stop = trio.Event()
    owned = registry is None
    if registry is None:
        registry = Registry(settings.data)
    try:
        access = None
        if settings.auth:
            from tinyreg.access.control import AccessControl, AuthSettings

            auth_settings = AuthSettings(service=settings.service, issuer=settings.service, token_ttl=settings.token_ttl)
            access = AccessControl(registry.meta, registry.data_dir, auth_settings)
        app = RegistryApp(registry, access=access, realm=settings.realm or None, access_log_enabled=settings.access_log)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_expire_uploads, registry, settings)

            async def run_http(task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED) -> None:
                try:
                    config = hypercorn_config(settings)
                    await worker_serve(
                        wrap_app(app, config.wsgi_max_body_size, None),
                        config,
                        sockets=sockets,
                        shutdown_trigger=stop.wait,
                        task_status=task_status,
                    )
                finally:
                    nursery.cancel_scope.cancel()

            binds = await nursery.start(partial(run_http))
            task_status.started(binds[0])
    finally:
        if owned:
            registry.close()

"""The `tinyreg` command line."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from dataclasses import replace
from pathlib import Path

from tinyreg import __version__
from tinyreg.admin_cli import add_admin_commands, run_admin
from tinyreg.config import ConfigError, Settings, check_exposure, load_settings
from tinyreg.durations import duration_argument
from tinyreg.workers import worker_count


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tinyreg", description="A container registry in one Python process.")
    parser.add_argument("--version", action="version", version=f"tinyreg {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    serve = commands.add_parser("serve", help="run the registry")
    serve.add_argument("--host", help=f"address to listen on (default {Settings.host}; env TINYREG_HOST)")
    serve.add_argument("--port", type=int, help=f"port to listen on, 0 for any (default {Settings.port}; env TINYREG_PORT)")
    serve.add_argument("--data", type=Path, help=f"data directory (default ./{Settings.data}; env TINYREG_DATA)")
    serve.add_argument(
        "--metadata",
        help="metadata in PostgreSQL: postgresql://user@host:port/db (default LMDB in the data directory; env TINYREG_METADATA)",
    )
    serve.add_argument("--config", type=Path, help="TOML file with the same settings (env TINYREG_CONFIG)")
    serve.add_argument("--log-level", choices=["debug", "info", "warning", "error"], help="default info (env TINYREG_LOG_LEVEL)")
    serve.add_argument(
        "--access-log",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="a line per request (default on; env TINYREG_ACCESS_LOG)",
    )
    serve.add_argument(
        "--log-format", choices=["text", "json"], help="text lines, or one JSON object per line (env TINYREG_LOG_FORMAT)"
    )
    serve.add_argument("--min-free-disk-mib", type=int, help="/readyz fails when less space is free for blobs (default 512)")
    serve.add_argument(
        "--upload-ttl", type=duration_argument, help="how long an upload may sit idle: 3600 (seconds), 90m, 12h... (default 1h)"
    )
    serve.add_argument(
        "--send-timeout",
        type=duration_argument,
        help="how long a client may accept no response bytes before it is disconnected: 60 (seconds), 2m... (default 60s)",
    )
    serve.add_argument("--workers", help="processes sharing the data directory: a number or 'auto' (default 1)")
    serve.add_argument(
        "--auth",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="users, projects and tokens (default off; env TINYREG_AUTH=1)",
    )
    serve.add_argument(
        "--insecure-open",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="allow serving without --auth on a non-loopback address",
    )
    serve.add_argument(
        "--token-ttl", type=duration_argument, help="how long a registry token is valid: 300 (seconds), 15m... (default 5m)"
    )
    serve.add_argument(
        "--keys-dir", help="token signing keys' directory, shared by the nodes of one registry (default DATA/keys)"
    )
    serve.add_argument("--realm", help="token endpoint URL to announce (default: from the request's Host)")
    serve.add_argument(
        "--external-url", help="the public address shown in the page and the API, e.g. https://registry.example.com"
    )
    serve.add_argument("--tls", choices=["self-signed"], help="serve HTTPS with a CA and certificate kept in the data directory")
    serve.add_argument(
        "--tls-cert", help="certificate chain (PEM) to serve HTTPS with, reloaded when it changes (env TINYREG_TLS_CERT)"
    )
    serve.add_argument("--tls-key", help="the certificate's private key (PEM) (env TINYREG_TLS_KEY)")
    serve.add_argument(
        "--tls-reload-interval", type=duration_argument, help="how often to look for a renewed certificate (default 60s)"
    )
    serve.add_argument(
        "--metrics",
        help="who may read /metrics: open, loopback, token:SECRET, admin or off (default loopback; env TINYREG_METRICS)",
    )
    serve.add_argument(
        "--insecure-http",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="allow --auth over plain HTTP on a non-loopback address (behind a TLS proxy)",
    )
    serve.add_argument(
        "--default-size-limit",
        help="size limit of projects without their own, e.g. 10GB, 5GiB (default none; env TINYREG_DEFAULT_SIZE_LIMIT)",
    )
    serve.add_argument(
        "--gc-interval",
        help="time between garbage collections in the server: 1h, 30m, 0 or off (default 1h; env TINYREG_GC_INTERVAL)",
    )
    serve.add_argument("--gc-grace", help="blobs younger than this survive a collection: 1h, 10m, 0 (default 1h)")
    serve.add_argument("--cleanup-interval", help="time between looks for due cleanup policies (default 60s)")
    serve.add_argument(
        "--blobs",
        help="where blob bytes live: s3://bucket/prefix (endpoint and keys from [s3] in the config file or AWS_* env); "
        "default: the data directory (env TINYREG_BLOBS)",
    )
    serve.add_argument(
        "--blobs-redirect",
        choices=["on", "off"],
        help="GETs of S3 blobs: on (default) redirects to a presigned URL, off streams them through the registry",
    )
    serve.add_argument(
        "--mirror",
        action="append",
        metavar="NAME=URL",
        help="cache an upstream registry, pulled as HOST/NAME/<repository> (repeatable; more settings in the config file)",
    )
    serve.add_argument("--dependency-proxy-upstream", metavar="NAME", help="the mirror Dependency Proxy paths pull from")
    serve.add_argument(
        "--move-alias",
        dest="move_alias_days",
        type=int,
        metavar="DAYS",
        help="days the old path of a moved project or repository answers pulls; 0: none (default 30; env TINYREG_MOVE_ALIAS_DAYS)",
    )
    add_admin_commands(commands)
    from tinyreg.db_cli import add_db_commands

    add_db_commands(commands)
    from tinyreg.migrate_cli import add_migrate_command

    add_migrate_command(commands)
    return parser


def _prepare_data(settings: Settings) -> tuple[Settings, int]:
    """Create or check the data directory before listening, so its faults are told apart from the port's.

    Returns the settings with the absolute data directory, and the number of users it holds.
    """
    from tinyreg.datadir import check_data_dir, count_users, open_meta

    data = check_data_dir(settings.data, create=True)
    meta = open_meta(data, settings.metadata)
    try:
        users = count_users(meta)
    finally:
        meta.close()  # closed before the server (or its forked workers) opens it again
    return replace(settings, data=data), users


def _announce(settings: Settings, url: str, users: int, workers: int) -> None:
    from tinyreg.server import banner_lines, no_user_warning

    lines = banner_lines(settings, url, users, workers)
    if settings.tls == "self-signed":
        from tinyreg.selfsigned import tls_dir, trust_instructions

        lines += trust_instructions(tls_dir(settings.data) / "ca.crt", url.split("://", 1)[1])
    print("\n".join(lines), flush=True)
    if settings.auth and users == 0:
        print(f"tinyreg: warning: {no_user_warning(settings)}", file=sys.stderr, flush=True)


def _listen_error(settings: Settings, reason: str) -> None:
    print(f"tinyreg: cannot serve: cannot listen on {settings.host}:{settings.port}: {reason}", file=sys.stderr)


def _run_serve(settings: Settings) -> int:
    from tinyreg.datadir import DataDirError
    from tinyreg.logs import configure_logging

    configure_logging(settings.log_level, settings.log_format)
    try:
        settings, users = _prepare_data(settings)
        if settings.serves_tls:  # made before any worker starts, so that all serve the same certificate
            from tinyreg.tls import resolve_tls

            settings = resolve_tls(settings)
    except DataDirError as exc:
        print(f"tinyreg: cannot serve: {exc}", file=sys.stderr)
        return 1
    except ConfigError as exc:
        print(f"tinyreg: {exc}", file=sys.stderr)
        return 2
    count = worker_count(settings.workers)
    if count == 1:
        return _serve_process(settings, users=users)
    from tinyreg.workers import bind_shared_sockets, run_workers

    try:
        sockets = bind_shared_sockets(settings)
    except OSError as exc:
        _listen_error(settings, exc.strerror or str(exc))
        return 1
    host, port = sockets.insecure_sockets[0].getsockname()[:2]
    scheme = "https" if settings.serves_tls else "http"
    url = f"{scheme}://[{host}]:{port}" if ":" in host else f"{scheme}://{host}:{port}"
    _announce(settings, url, users, count)
    import shutil
    import tempfile

    metrics_dir = Path(tempfile.mkdtemp(prefix="tinyreg-metrics-"))  # owner-only; each worker writes its counts there
    try:
        return run_workers(
            count, lambda: _serve_process(settings, sockets, announce=False, workers=count, metrics_dir=metrics_dir)
        )
    finally:
        shutil.rmtree(metrics_dir, ignore_errors=True)


def _serve_process(
    settings: Settings,
    sockets: object = None,
    *,
    announce: bool = True,
    users: int = 0,
    workers: int = 1,
    metrics_dir: Path | None = None,
) -> int:
    """Serve in this process until SIGINT or SIGTERM; the exit code."""
    import trio

    from tinyreg.server import first_os_error, serve

    async def main() -> None:
        stop = trio.Event()
        async with trio.open_nursery() as nursery:

            async def watch_signals() -> None:
                with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
                    async for signum in signals:
                        logging.getLogger("tinyreg").info("%s received, stopping", signal.Signals(signum).name)
                        stop.set()

            async def run_server(task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED) -> None:
                await serve(
                    settings, sockets=sockets, stop=stop, workers=workers, metrics_dir=metrics_dir, task_status=task_status
                )
                nursery.cancel_scope.cancel()

            nursery.start_soon(watch_signals)
            url = await nursery.start(run_server)
            if announce:
                _announce(settings, url, users, 1)

    try:
        trio.run(main)
    except BaseException as exc:  # noqa: BLE001 - a start-up failure is reported, not traced
        failure = first_os_error(exc)
        if failure is None:
            raise
        if failure.filename:  # a file of the data directory; a socket error names no file
            from tinyreg.datadir import describe

            print(f"tinyreg: cannot serve: cannot use data directory {settings.data}: {describe(failure)}", file=sys.stderr)
        else:
            _listen_error(settings, failure.strerror or str(failure))
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `tinyreg` command."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    if args.command == "serve":
        flags = {k: v for k, v in vars(args).items() if k not in ("command", "config")}
        try:
            settings = load_settings(flags, config_file=args.config)
            check_exposure(settings)
            worker_count(settings.workers)
        except ConfigError as exc:
            print(f"tinyreg: {exc}", file=sys.stderr)
            return 2
        return _run_serve(settings)
    if args.command == "db":
        from tinyreg.db_cli import run_db

        return run_db(args)
    if args.command == "migrate":
        from tinyreg.migrate_cli import run_migrate

        return run_migrate(args)
    return run_admin(args)

"""The `tinyreg` command line."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from pathlib import Path

from tinyreg import __version__
from tinyreg.admin_cli import add_admin_commands, run_admin
from tinyreg.config import ConfigError, Settings, check_exposure, load_settings


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tinyreg", description="A container registry in one Python process.")
    parser.add_argument("--version", action="version", version=f"tinyreg {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    serve = commands.add_parser("serve", help="run the registry")
    serve.add_argument("--host", help=f"address to listen on (default {Settings.host}; env TINYREG_HOST)")
    serve.add_argument("--port", type=int, help=f"port to listen on, 0 for any (default {Settings.port}; env TINYREG_PORT)")
    serve.add_argument("--data", type=Path, help=f"data directory (default ./{Settings.data}; env TINYREG_DATA)")
    serve.add_argument("--config", type=Path, help="TOML file with the same settings (env TINYREG_CONFIG)")
    serve.add_argument("--log-level", choices=["debug", "info", "warning", "error"], help="default info (env TINYREG_LOG_LEVEL)")
    serve.add_argument("--no-access-log", dest="access_log", action="store_false", default=None, help="no line per request")
    serve.add_argument("--upload-ttl", type=float, help="seconds before an idle upload expires (default 3600)")
    serve.add_argument("--auth", action="store_true", default=None, help="users, projects and tokens (env TINYREG_AUTH=1)")
    serve.add_argument("--insecure-open", action="store_true", default=None,
                       help="allow serving without --auth on a non-loopback address")
    serve.add_argument("--token-ttl", type=float, help="seconds a registry token is valid (default 300)")
    serve.add_argument("--realm", help="token endpoint URL to announce (default: from the request's Host)")
    add_admin_commands(commands)
    return parser


def _run_serve(settings: Settings) -> int:
    import trio

    from tinyreg.server import serve

    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)

    async def main() -> None:
        stop = trio.Event()
        async with trio.open_nursery() as nursery:
            url = await nursery.start(partial_serve, settings, stop)
            print(f"tinyreg {__version__} listening on {url} (data in {settings.data.resolve()})", flush=True)
            with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
                async for signum in signals:
                    logging.getLogger("tinyreg").info("%s received, stopping", signal.Signals(signum).name)
                    stop.set()
                    break

    async def partial_serve(settings: Settings, stop: "trio.Event", task_status=trio.TASK_STATUS_IGNORED) -> None:  # type: ignore[no-untyped-def]
        await serve(settings, stop=stop, task_status=task_status)

    try:
        trio.run(main)
    except BaseException as exc:  # noqa: BLE001 - a start-up failure is reported, not traced
        failure = _first_os_error(exc)
        if failure is None:
            raise
        print(f"tinyreg: cannot serve on {settings.host}:{settings.port} with data in {settings.data}: {failure.strerror or failure}", file=sys.stderr)
        return 1
    return 0


def _first_os_error(exc: BaseException) -> OSError | None:
    if isinstance(exc, OSError):
        return exc
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            found = _first_os_error(inner)
            if found is not None:
                return found
    return None


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
        except ConfigError as exc:
            print(f"tinyreg: {exc}", file=sys.stderr)
            return 2
        return _run_serve(settings)
    return run_admin(args)

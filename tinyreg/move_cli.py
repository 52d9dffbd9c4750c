"""`tinyreg project move OLD NEW`, `tinyreg repository move OLD NEW` and `tinyreg project alias
list|remove`: moves from the command line (they work while `tinyreg serve` runs, like the other
admin commands: a move is one unit of work, and the server sees the new layout at once)."""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from tinyreg.columns import format_table

if TYPE_CHECKING:
    from tinyreg.access.store import AccessStore
    from tinyreg.config import Settings

ALIAS_HELP = "days the old path answers pulls (read-only); 0: no alias (default: move_alias_days, 30)"


def add_move_commands(commands: Any, project: Any, common: argparse.ArgumentParser) -> None:
    """`move` and `alias` under `tinyreg project`, and `tinyreg repository move`."""
    move = project.add_parser("move", parents=[common], help="rename a project or move it to another group, with its images")
    move.add_argument("old", metavar="OLD")
    move.add_argument("new", metavar="NEW")
    move.add_argument("--move-alias", dest="move_alias_days", type=int, metavar="DAYS", help=ALIAS_HELP)
    alias = project.add_parser("alias", help="old paths of moved projects and repositories").add_subparsers(
        dest="alias_action", metavar="ACTION", required=True
    )
    alias.add_parser("list", parents=[common], help="list the aliases (expired ones too, until removed)")
    aremove = alias.add_parser("remove", parents=[common], help="remove an alias: its path is free again at once")
    aremove.add_argument("path")

    repository = commands.add_parser("repository", help="manage repositories").add_subparsers(
        dest="action", metavar="ACTION", required=True
    )
    rmove = repository.add_parser("move", parents=[common], help="rename a repository or move it into another project")
    rmove.add_argument("old", metavar="OLD")
    rmove.add_argument("new", metavar="NEW")
    rmove.add_argument("--move-alias", dest="move_alias_days", type=int, metavar="DAYS", help=ALIAS_HELP)


def _when(stamp: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(stamp))


def run_move_command(args: argparse.Namespace, store: AccessStore, settings: Settings, out: Callable[[Any, str], None]) -> None:
    import uuid

    from tinyreg.access.moves import OPERATOR, Mover
    from tinyreg.logs import configure_logging
    from tinyreg.registry.accounting import Accounting
    from tinyreg.registry.events import COMMAND_METHOD, unattended_origin
    from tinyreg.registry.notifier import Notifier

    days = settings.move_alias_days if getattr(args, "move_alias_days", None) is None else args.move_alias_days
    # The move's events are queued for the endpoints of the config file (and the projects' hooks):
    # a running server delivers them.
    notifier = Notifier(store.meta, settings.notifications)
    mover = Mover(store.meta, Accounting(settings.size_limit_bytes()), max(0, days), notifier)
    if args.command == "repository" or args.action == "move":
        configure_logging("info", settings.log_format)  # the audit line goes where the server's would
        move = mover.move_repository if args.command == "repository" else mover.move_project
        report = move(args.old, args.new, OPERATOR, unattended_origin(COMMAND_METHOD, str(uuid.uuid4())))
        out(report.to_json(), report.summary())
    elif args.alias_action == "list":
        rows = mover.aliases()
        table = [
            [row["path"], row["kind"], row["target"], _when(row["expires"]), "active" if row["active"] else "expired"]
            for row in rows
        ]
        out(rows, format_table(["OLD PATH", "KIND", "MOVED TO", "UNTIL", "STATE"], table, "no aliases"))
    else:
        mover.remove_alias(args.path)
        out({"removed": args.path}, f"removed the alias {args.path}: the path is free")

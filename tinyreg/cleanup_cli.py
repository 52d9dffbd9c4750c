"""`tinyreg cleanup-policy set|show PATH` and `tinyreg cleanup [PROJECT]`: cleanup policies
from the command line (they work while `tinyreg serve` runs, like the other admin commands)."""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from tinyreg.access.errors import AccessError
from tinyreg.registry.cleanup_policy import CADENCES, DEFAULT_POLICY, KEEP_N, OLDER_THAN, PolicyError

if TYPE_CHECKING:
    from tinyreg.registry.cleanup import CleanupRun
    from tinyreg.registry.notification_settings import NotificationSettings
    from tinyreg.storage.interfaces import MetaStore

COMMANDS = ("cleanup-policy", "cleanup")


def add_cleanup_commands(commands: Any, common: argparse.ArgumentParser) -> None:
    policy = commands.add_parser("cleanup-policy", help="a project's cleanup policy").add_subparsers(
        dest="action", metavar="ACTION", required=True
    )
    pset = policy.add_parser("set", parents=[common], help="change a project's cleanup policy (the others stay)")
    pset.add_argument("path")
    pset.add_argument("--enabled", action=argparse.BooleanOptionalAction, default=None, help="run it on its cadence")
    pset.add_argument("--cadence", choices=list(CADENCES), help="how often it runs (default 1d)")
    pset.add_argument("--keep-n", choices=[str(n) for n in KEEP_N] + ["none"], help="keep this many newest tags per repository")
    pset.add_argument("--older-than", choices=[*OLDER_THAN, "none"], help="remove only tags pushed longer ago")
    pset.add_argument("--name-regex", help="tags it may remove (whole names), e.g. '.*'; '' removes nothing")
    pset.add_argument("--name-regex-keep", help="tags it never removes, e.g. 'v.*'; '' for none")
    show = policy.add_parser("show", parents=[common], help="show a project's cleanup policy")
    show.add_argument("path")

    cleanup = commands.add_parser(
        "cleanup", parents=[common], help="run the enabled cleanup policies now (or one project's, even if disabled)"
    )
    cleanup.add_argument("project", nargs="?", help="only this project's policy")
    cleanup.add_argument("--dry-run", action="store_true", help="only say what would be removed")


def _policy_text(path: str, row: dict[str, Any]) -> str:
    shown = ", ".join(f"{name}={row.get(name)!r}" for name in DEFAULT_POLICY if name != "next_run_at")
    when = row.get("next_run_at")
    next_run = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(when)) if when else "never"
    return f"cleanup policy of {path}: {shown}; next run {next_run}"


def _run_text(run: CleanupRun, dry_run: bool) -> str:
    verb = "would remove" if dry_run else "removed"
    untagged = f" and {run.manifests} manifests left untagged" if run.manifests else ""
    lines = [f"{run.project}: {verb} {run.count} tag{'' if run.count == 1 else 's'}{untagged}"]
    for repo in sorted(run.kept.keys() | run.removed.keys()):
        for tag in run.removed.get(repo, []):
            lines.append(f"  {verb} {repo}:{tag}")
        for tag, reason in sorted(run.kept.get(repo, {}).items()):
            lines.append(f"  kept {repo}:{tag} ({reason})")
    return "\n".join(lines)


def run_cleanup_command(
    args: argparse.Namespace, meta: MetaStore, out: Callable[[Any, str], None], notifications: NotificationSettings | None = None
) -> None:
    """`notifications`: the endpoints of the config file, for the events of what a run removes (a
    running server delivers them, as it does those of the projects' hooks)."""
    from tinyreg.registry.cleanup import policy_of, run_policy, set_policy
    from tinyreg.registry.notifier import Notifier

    if args.command == "cleanup-policy":
        if args.action == "set":
            given = {
                "enabled": args.enabled,
                "cadence": args.cadence,
                "keep_n": args.keep_n,
                "older_than": args.older_than,
                "name_regex": args.name_regex,
                "name_regex_keep": args.name_regex_keep,
            }
            changes = {k: (None if v == "none" else v) for k, v in given.items() if v is not None}
            try:
                row = set_policy(meta, args.path, changes)
            except (PolicyError, LookupError) as exc:
                raise AccessError(str(exc).strip("'\"")) from None
        else:
            row = policy_of(meta, args.path) or dict(DEFAULT_POLICY)
        out({"path": args.path, **row}, _policy_text(args.path, row))
        return
    if args.project:
        stored = policy_of(meta, args.project)
        if stored is None:
            raise AccessError(f"project {args.project} has no cleanup policy (tinyreg cleanup-policy set {args.project} ...)")
        policies = [(args.project, stored)]
    else:
        with meta.read() as tx:
            policies = [(path, row) for path, row in tx.iter_cleanup_policies() if row.get("enabled")]
    notifier = Notifier(meta, notifications)
    runs = [run_policy(meta, path, row, now=time.time(), dry_run=args.dry_run, notifier=notifier) for path, row in policies]
    text = "\n".join(_run_text(run, args.dry_run) for run in runs) or "no enabled cleanup policies"
    out([run.to_json() for run in runs], text)

"""`tinyreg user|project|group|token|deploy-token|keys|gc ...`: administer a data directory.

These commands open the data directory's LMDB environment directly, so they work while
`tinyreg serve` runs on it. Each prints a line for people, or JSON with `--json`.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tinyreg.access.errors import AccessError
from tinyreg.access.policy import DEPLOY_SCOPES, ROLES, SCOPES
from tinyreg.cleanup_cli import COMMANDS as CLEANUP_COMMANDS
from tinyreg.cleanup_cli import add_cleanup_commands, run_cleanup_command
from tinyreg.columns import format_table
from tinyreg.config import ConfigError, load_settings
from tinyreg.durations import duration_argument
from tinyreg.move_cli import add_move_commands

if TYPE_CHECKING:  # the store is imported by the commands that use it: `serve` starts without it
    from tinyreg.access.store import AccessStore, TokenRecord


def _scopes(text: str) -> list[str]:
    return [s.strip() for s in text.split(",") if s.strip()]


def add_admin_commands(commands: Any) -> None:
    """Add the administration sub-commands to the `tinyreg` parser."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--data", help="data directory (default ./tinyreg-data; env TINYREG_DATA)")
    common.add_argument(
        "--metadata", help="metadata in PostgreSQL: postgresql://user@host:port/db (default LMDB in the data directory)"
    )
    common.add_argument("--json", action="store_true", help="machine-readable output")
    common.add_argument("--config", type=Path, help="TOML file whose `data` names the data directory (env TINYREG_CONFIG)")
    common.add_argument("--init", action="store_true", help="create the data directory if it does not exist yet")

    user = commands.add_parser("user", help="manage users").add_subparsers(dest="action", metavar="ACTION", required=True)
    add = user.add_parser("add", parents=[common], help="create a user")
    add.add_argument("name")
    add.add_argument("--admin", action="store_true", help="may do everything")
    add.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    add.add_argument("--no-password", action="store_true", help="no password: the user logs in with tokens only")
    user.add_parser("list", parents=[common], help="list users")
    remove = user.add_parser("remove", parents=[common], help="remove a user and revoke their tokens")
    remove.add_argument("name")
    passwd = user.add_parser("passwd", parents=[common], help="change a password")
    passwd.add_argument("name")
    passwd.add_argument("--password-stdin", action="store_true")
    update = user.add_parser("update", parents=[common], help="change a user's switches")
    update.add_argument("name")
    update.add_argument("--tokens-only", choices=["on", "off"], help="refuse password logins to the registry (tokens only)")
    update.add_argument("--admin", choices=["on", "off"])

    project = commands.add_parser("project", help="manage projects").add_subparsers(
        dest="action", metavar="ACTION", required=True
    )
    create = project.add_parser("create", parents=[common], help="create a project (nested groups allowed: group/sub/project)")
    create.add_argument("path")
    create.add_argument("--public", action="store_true", help="anyone may pull")
    create.add_argument("--owner", help="user made owner of the project")
    create.add_argument(
        "--adopt", action="store_true", help="create it even if existing repositories of other projects would move into it"
    )
    project.add_parser("list", parents=[common], help="list projects")
    pupdate = project.add_parser("update", parents=[common], help="change visibility or switch the registry on/off")
    pupdate.add_argument("path")
    pupdate.add_argument("--visibility", choices=["public", "private"])
    pupdate.add_argument("--registry", choices=["on", "off"])
    pupdate.add_argument("--size-limit", help="the project's own size limit: 5GB, 500MiB, none (no limit) or default")
    _member_commands(project, common, "manage members")
    add_move_commands(commands, project, common)

    group = commands.add_parser("group", help="manage groups").add_subparsers(dest="action", metavar="ACTION", required=True)
    gcreate = group.add_parser("create", parents=[common], help="create a group (and the missing groups above it)")
    gcreate.add_argument("path")
    gcreate.add_argument("--public", action="store_true", help="anyone may see the group")
    gcreate.add_argument("--owner", help="user made owner of the group")
    group.add_parser("list", parents=[common], help="list groups")
    _member_commands(group, common, "manage members (their role holds in every project and group below)")

    for kind, owner in (("token", "USER"), ("deploy-token", "PROJECT")):
        tokens = commands.add_parser(kind, help=f"manage {'personal access' if kind == 'token' else 'deploy'} tokens")
        actions = tokens.add_subparsers(dest="action", metavar="ACTION", required=True)
        tcreate = actions.add_parser("create", parents=[common], help="create a token; its secret is shown once")
        tcreate.add_argument("owner", metavar=owner)
        tcreate.add_argument("--name", required=True)
        allowed = SCOPES if kind == "token" else DEPLOY_SCOPES
        tcreate.add_argument("--scopes", type=_scopes, required=True, help=f"comma-separated: {', '.join(allowed)}")
        tcreate.add_argument("--expires-in", type=duration_argument, help="e.g. 30d, 12h, 3600 (seconds) (default: never)")
        tlist = actions.add_parser("list", parents=[common], help="list tokens")
        tlist.add_argument("owner", metavar=owner, nargs="?")
        trevoke = actions.add_parser("revoke", parents=[common], help="revoke a token by id")
        trevoke.add_argument("id", type=int)

    usage = commands.add_parser("usage", parents=[common], help="registry usage of projects, and their size limits")
    usage.add_argument("project", nargs="?", help="only this project, with the usage of each of its repositories")
    usage.add_argument("--recompute", action="store_true", help="count everything again; report and fix any drift")

    gc = commands.add_parser("gc", parents=[common], help="remove blobs and manifest bytes nothing refers to")
    gc.add_argument("--dry-run", action="store_true", help="only say what would be removed")
    gc.add_argument(
        "--grace",
        type=duration_argument,
        default=3600.0,
        help="keep blob files younger than this, e.g. 6h, 90m, 3600 (seconds) (default 1h): uploads in flight",
    )
    gc.add_argument(
        "--blobs", help="the registry's blobs when not in the data directory: s3://bucket/prefix (S3 settings as for serve)"
    )

    add_cleanup_commands(commands, common)
    keys = commands.add_parser("keys", help="token signing keys").add_subparsers(dest="action", metavar="ACTION", required=True)
    rotate = keys.add_parser(
        "rotate", parents=[common], help="make a new signing key; the old one verifies until its tokens expire"
    )
    rotate.add_argument("--keys-dir", help="the keys' directory when the server has one (--keys-dir; default DATA/keys)")


def _member_commands(parent: Any, common: argparse.ArgumentParser, help_text: str) -> None:
    """`... member add PATH USER ROLE | remove PATH USER | list PATH` under a project or group parser."""
    member = parent.add_parser("member", help=help_text).add_subparsers(dest="member_action", metavar="ACTION", required=True)
    madd = member.add_parser("add", parents=[common], help="give a user a role")
    madd.add_argument("path")
    madd.add_argument("user")
    madd.add_argument("role", choices=ROLES)
    mremove = member.add_parser("remove", parents=[common], help="remove a member")
    mremove.add_argument("path")
    mremove.add_argument("user")
    mlist = member.add_parser("list", parents=[common], help="list members")
    mlist.add_argument("path")


def _read_password(args: argparse.Namespace) -> str | None:
    if getattr(args, "no_password", False):
        return None
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    elif sys.stdin.isatty():
        password = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != password:
            raise AccessError("the passwords differ")
    else:
        raise AccessError("no terminal to ask a password: use --password-stdin (or --no-password)")
    if len(password) < 8:
        raise AccessError("a password has at least 8 characters")
    return password


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _size(n: int) -> str:
    if n < 1024:
        return f"{n} bytes"
    value = float(n)
    for unit in ("KiB", "MiB", "GiB"):
        value /= 1024
        if value < 1024 or unit == "GiB":
            break
    return f"{value:.1f} {unit}"


def _token_row(record: TokenRecord) -> list[str]:
    expires = time.strftime("%Y-%m-%d %H:%M", time.gmtime(record.expires_at)) + " UTC" if record.expires_at else "never"
    state = "revoked" if record.revoked else ("expired" if not record.usable(time.time()) else "active")
    return [str(record.id), record.name, record.username, ",".join(record.scopes), expires, state]


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def _visibility(public: bool) -> str:
    return "public" if public else "private"


def run_admin(args: argparse.Namespace) -> int:
    """Run one administration command; return the process exit code."""

    import lmdb

    from tinyreg.datadir import DataDirError, check_data_dir, describe, is_data_dir, open_meta

    try:
        settings = load_settings({"data": args.data, "metadata": args.metadata}, config_file=args.config)
    except ConfigError as exc:
        print(f"tinyreg: {exc}", file=sys.stderr)
        return 2
    if getattr(args, "keys_dir", "") is None:
        args.keys_dir = settings.keys_dir or None  # the server's setting (env, TOML) unless given here
    try:
        existed = is_data_dir(settings.data) or (bool(settings.metadata) and settings.data.is_dir())
        data = check_data_dir(settings.data, create=args.init, metadata=settings.metadata)
        # stderr, so that --json output stays clean: which store a command works on is never a guess
        print(f"tinyreg: {'data directory' if existed else 'new data directory'} {data}", file=sys.stderr)
        meta = open_meta(data, settings.metadata)
    except DataDirError as exc:
        print(f"tinyreg: {exc}", file=sys.stderr)
        return 1
    out: Callable[[Any, str], None] = (lambda doc, text: print(json.dumps(doc))) if args.json else (lambda doc, text: print(text))
    try:
        from tinyreg.access.store import AccessStore

        if args.command == "repository" or getattr(args, "action", None) in ("move", "alias"):
            from tinyreg.move_cli import run_move_command

            run_move_command(args, AccessStore(meta), settings, out)
        elif args.command in CLEANUP_COMMANDS:
            run_cleanup_command(args, meta, out, settings.notifications)
        else:
            _dispatch(args, AccessStore(meta), data, out, settings.size_limit_bytes())
    except AccessError as exc:
        print(f"tinyreg: {exc}", file=sys.stderr)
        return 1
    except (OSError, lmdb.Error) as exc:  # e.g. a read-only data directory: one line, not a trace
        print(f"tinyreg: cannot write to data directory {data}: {describe(exc)}", file=sys.stderr)
        return 1
    finally:
        meta.close()
    return 0


def _dispatch(
    args: argparse.Namespace, store: AccessStore, data: Any, out: Callable[[Any, str], None], default_limit: int | None
) -> None:
    command, action = args.command, getattr(args, "action", None)
    if command == "user":
        if action == "add":
            user_id = store.add_user(args.name, _read_password(args), admin=args.admin)
            out(
                {"name": args.name, "id": user_id, "admin": args.admin},
                f"created user {args.name}{' (admin)' if args.admin else ''}",
            )
        elif action == "list":
            users = [{k: v for k, v in u.items() if k != "password"} for u in store.users()]
            rows = [[str(u["id"]), u["name"], _yes(u["admin"]), _yes(u["tokens_only"])] for u in users]
            out(users, format_table(["ID", "NAME", "ADMIN", "TOKENS-ONLY"], rows, "no users"))
        elif action == "remove":
            store.remove_user(args.name)
            out({"removed": args.name}, f"removed user {args.name}; their tokens are revoked")
        elif action == "passwd":
            store.update_user(args.name, password=_read_password(args))
            out({"name": args.name}, f"password of {args.name} changed")
        elif action == "update":
            changes = {k: v == "on" for k, v in (("tokens_only", args.tokens_only), ("admin", args.admin)) if v}
            store.update_user(args.name, **changes)
            out(
                {"name": args.name, **changes},
                f"updated user {args.name}: " + ", ".join(f"{k}={'on' if v else 'off'}" for k, v in changes.items()),
            )
    elif command == "project":
        _project(args, store, out, default_limit)
    elif command == "group":
        _group(args, store, out)
    elif command in ("token", "deploy-token"):
        _tokens(args, store, "personal" if command == "token" else "deploy", out)
    elif command == "usage":
        from tinyreg.usage_cli import show_usage

        show_usage(args, store.meta, default_limit, out)
    elif command == "gc":
        from tinyreg.config import s3_options
        from tinyreg.registry.gc import CollectionRunning, collect
        from tinyreg.storage.opening import open_blobs

        settings = load_settings({"blobs": args.blobs})  # with TINYREG_BLOBS, TINYREG_S3_* and TINYREG_CONFIG's [s3]
        try:
            blobs = open_blobs(data, settings.blobs, s3_options(settings), meta=store.meta)
            report = collect(store.meta, blobs, grace=args.grace, dry_run=args.dry_run)
        except CollectionRunning as exc:
            raise AccessError(str(exc)) from None
        verb = "would remove" if args.dry_run else "removed"
        out(
            report.to_json(),
            f"{verb} {_count(report.links, 'unused link')}, {_count(len(report.blobs), 'blob')} "
            f"({_size(report.bytes_freed)}) and the bytes of {_count(len(report.manifests), 'manifest')}",
        )
    elif command == "keys":
        from tinyreg.access.jwt import KeyRing

        keys_dir = Path(args.keys_dir or data / "keys").absolute()
        kid = KeyRing(keys_dir, max_token_age=86400).rotate()
        out({"kid": kid}, f"new signing key {kid}: running servers sign with it from their next token on")


def _project(args: argparse.Namespace, store: AccessStore, out: Callable[[Any, str], None], default_limit: int | None) -> None:
    action = args.action
    if action == "create":
        project_id = store.create_project(args.path, public=args.public, owner=args.owner, adopt=args.adopt)
        out(
            {"path": args.path, "id": project_id, "public": args.public},
            f"created {'public' if args.public else 'private'} project {args.path}",
        )
    elif action == "list":
        from tinyreg.usage_cli import usage_cell, usages

        projects = store.projects()
        used = usages(store.meta, default_limit)
        rows = [
            [
                str(p["id"]),
                p["path"],
                _visibility(p["public"]),
                "on" if p["registry_enabled"] else "off",
                usage_cell(used[p["path"]]),
            ]
            for p in projects
        ]
        docs = [{**p, "usage": used[p["path"]]["usage"], "size_limit": used[p["path"]]["limit"]} for p in projects]
        out(docs, format_table(["ID", "PATH", "VISIBILITY", "REGISTRY", "USAGE"], rows, "no projects"))
    elif action == "update":
        public = None if args.visibility is None else args.visibility == "public"
        enabled = None if args.registry is None else args.registry == "on"
        store.update_project(args.path, public=public, registry_enabled=enabled)
        doc: dict[str, Any] = {"path": args.path, "public": public, "registry_enabled": enabled}
        if args.size_limit is not None:
            from tinyreg.usage_cli import set_size_limit

            doc["size_limit"] = set_size_limit(store, args.path, args.size_limit)
        out(doc, f"updated project {args.path}")
    elif action == "member":
        _members(args, store.set_member, store.members, "", out)


def _group(args: argparse.Namespace, store: AccessStore, out: Callable[[Any, str], None]) -> None:
    action = args.action
    if action == "create":
        visibility = _visibility(args.public)
        group_id = store.create_group(args.path, visibility=visibility, owner=args.owner)
        out({"path": args.path, "id": group_id, "public": args.public}, f"created {visibility} group {args.path}")
    elif action == "list":
        groups = store.groups()
        rows = [[str(g["id"]), g["path"], _visibility(g["public"])] for g in groups]
        out(groups, format_table(["ID", "PATH", "VISIBILITY"], rows, "no groups"))
    else:
        _members(args, store.set_group_member, store.group_members, "group ", out)


def _members(
    args: argparse.Namespace,
    set_role: Callable[[str, str, str | None], None],
    members_of: Callable[[str], dict[str, str]],
    what: str,
    out: Callable[[Any, str], None],
) -> None:
    """`member add|remove|list` of a project (`what` "") or a group (`what` "group ")."""
    if args.member_action == "add":
        set_role(args.path, args.user, args.role)
        out({"path": args.path, "user": args.user, "role": args.role}, f"{args.user} is {args.role} of {what}{args.path}")
    elif args.member_action == "remove":
        set_role(args.path, args.user, None)
        out({"path": args.path, "user": args.user}, f"{args.user} is no longer a member of {what}{args.path}")
    else:
        members = members_of(args.path)
        out(members, format_table(["USER", "ROLE"], list(members.items()), f"no members in {what}{args.path}"))


def _tokens(args: argparse.Namespace, store: AccessStore, kind: str, out: Callable[[Any, str], None]) -> None:
    if args.action == "create":
        expires_at = time.time() + args.expires_in if args.expires_in else None
        secret, record = store.create_token(kind, args.owner, args.name, args.scopes, expires_at)
        doc = {**record.to_json(), "token": secret}
        out(doc, f"username: {record.username}\ntoken:    {secret}\n(the token is shown only this once)")
    elif args.action == "list":
        records = store.tokens(kind=kind, owner=args.owner)
        empty = f"no {'personal access' if kind == 'personal' else 'deploy'} tokens" + (f" of {args.owner}" if args.owner else "")
        header = ["ID", "NAME", "USER", "SCOPES", "EXPIRES", "STATE"]
        out([r.to_json() for r in records], format_table(header, [_token_row(r) for r in records], empty))
    elif args.action == "revoke":
        record = store.revoke_token(args.id)
        out(record.to_json(), f"revoked token {record.id} ({record.name})")

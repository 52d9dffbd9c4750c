"""Moving a project (rename or transfer) or one repository, with everything that hangs off it.

A move is one unit of work: the facts are read, the rules (`move_rules`, `policy`) decide, and
every row is re-keyed, or nothing is (a crash leaves the old layout or the new, never a mix).
What moves with a project: each of its repositories (tags, manifests, referrers, blob links,
repository usage: `MetaWriter.move_repository`), its row and id, members, cleanup policy, size
limit and project usage (`MetaWriter.move_project`), and its deploy tokens. Blob bytes never
move: nothing in an image names its repository. Upload sessions of moved repositories are
cancelled (their row kept with `moved_to`, so a client continuing one hears where to go; the
sweep of idle uploads removes them). Old paths become read-only aliases
(`tinyreg.registry.aliases`) unless aliases are off. Each move writes one audit line, and queues
one `move` event per repository in its unit of work (when the mover has a notifier and an origin).
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from tinyreg.access.errors import AccessError
from tinyreg.access.groups import ensure_groups, group_role, project_role
from tinyreg.access.move_rules import (
    ProjectMove,
    RepositoryMove,
    is_rights_refusal,
    project_move_refusal,
    renamed,
    repository_move_refusal,
)
from tinyreg.access.policy import GroupAccess, Principal, ProjectAccess, may_move_project, may_move_repository
from tinyreg.registry.accounting import Accounting, owner_project
from tinyreg.registry.aliases import DEFAULT_DAYS, active_alias, in_force, new_alias, until
from tinyreg.registry.errors import RegistryError
from tinyreg.registry.events import Origin, moved
from tinyreg.registry.notifier import Notifier
from tinyreg.registry.owners import nearest_project, project_of
from tinyreg.storage.interfaces import MetaReader, MetaStore, MetaWriter

audit = logging.getLogger("tinyreg.audit")
#: Who moves from the command line: the operator of the data directory.
OPERATOR = Principal("user", "", admin=True)


class MoveRefused(AccessError):
    """A move that was refused before anything changed, saying why; `forbidden` when the caller lacks the rights."""

    def __init__(self, message: str, *, forbidden: bool = False) -> None:
        super().__init__(message)
        self.forbidden = forbidden


@dataclass
class MoveReport:
    kind: str  # "project" or "repository"
    old: str
    new: str
    by: str
    repositories: dict[str, str] = field(default_factory=dict)  # old name → new name
    tags: int = 0
    uploads_cancelled: int = 0
    alias_until: float | None = None
    seconds: float = 0.0  # how long the unit of work took

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        alias = f"; {self.old} answers pulls until {until_text(self.alias_until)}" if self.alias_until else "; no alias kept"
        uploads = f", {self.uploads_cancelled} upload(s) in progress cancelled" if self.uploads_cancelled else ""
        return (
            f"moved {self.kind} {self.old} to {self.new}: {len(self.repositories)} repositor"
            f"{'y' if len(self.repositories) == 1 else 'ies'}, {self.tags} tags{uploads}{alias}"
        )


def until_text(stamp: float) -> str:
    return until({"kind": "project", "target": "", "created": 0.0, "expires": stamp})


def _role_name(principal: Principal) -> str | None:
    return principal.name if principal.kind == "user" and principal.name else None


def _project_access(tx: MetaReader, path: str, principal: Principal) -> ProjectAccess | None:
    row = tx.project(path)
    if row is None:
        return None
    return ProjectAccess(path, bool(row["public"]), bool(row["registry_enabled"]), project_role(tx, path, _role_name(principal)))


def _alias_occupant(tx: MetaReader, path: str, now: float, moving: str) -> str | None:
    """Why an alias in force holds `path`; None when there is none, or it leads to what is `moving` (a move back)."""
    row = active_alias(tx, path, now)
    if row is None or row["target"] == moving or row["target"].startswith(moving + "/"):
        return None
    return (
        f"{path} is the old path of {row['target']}, kept as an alias until {until(row)}; "
        f"remove it first (tinyreg project alias remove {path})"
    )


def project_occupant(tx: MetaReader, path: str, now: float, moving: str) -> str | None:
    """What holds `path` so that no project may move there, in words (None: it is free)."""
    if tx.project(path) is not None:
        return f"project {path} exists"
    if tx.group(path) is not None:
        return f"group {path} exists"
    if next(iter(tx.projects_below(path)), None) is not None:
        return f"projects exist below {path}"
    repos = tx.repositories_under(path)
    if repos:
        return f"repository {repos[0]} exists" if len(repos) == 1 else f"{len(repos)} repositories exist at or below {path}"
    return _alias_occupant(tx, path, now, moving)


def _signed(tx: MetaReader, repo: str) -> bool:
    return any("data" in row for _, row in tx.manifests_of(repo))


class Mover:
    """Moves in one data directory; `alias_days` 0 keeps no alias; `notifier` queues their events."""

    def __init__(
        self,
        meta: MetaStore,
        accounting: Accounting | None = None,
        alias_days: float = DEFAULT_DAYS,
        notifier: Notifier | None = None,
    ) -> None:
        self.meta = meta
        self.accounting = accounting or Accounting()
        self.alias_days = alias_days
        self.notifier = notifier

    # -- a project ----------------------------------------------------------------------------

    def move_project(self, old: str, new: str, principal: Principal = OPERATOR, origin: Origin | None = None) -> MoveReport:
        """Move project `old` to `new` for `principal`; `origin`: the request (or command) its events name."""
        began = time.perf_counter()
        report = self.meta.write(lambda tx: self._move_project(tx, old, new, principal, time.time(), origin))
        return self._audit(report, began)

    def _move_project(
        self, tx: MetaWriter, old: str, new: str, principal: Principal, now: float, origin: Origin | None
    ) -> MoveReport:
        source = _project_access(tx, old, principal)
        namespace = new.rpartition("/")[0]
        group_row = tx.group(namespace) if namespace else None
        target = (
            GroupAccess(namespace, bool(group_row["public"]), group_role(tx, namespace, _role_name(principal)))
            if group_row
            else None
        )
        same_namespace = namespace == old.rpartition("/")[0]
        allowed = source is not None and may_move_project(principal, source, namespace, target, same_namespace=same_namespace)
        repos = [repo for repo in tx.repositories_under(old) if owner_project(tx, repo) == old] if allowed else []
        facts = ProjectMove(old, new, allowed, exists=source is not None)
        if allowed and new != old and not new.startswith(old + "/"):
            facts = ProjectMove(
                old,
                new,
                allowed,
                occupied=project_occupant(tx, new, now, old),
                repositories=repos,
                blocked=[renamed(r, old, new) for r in repos if _alias_occupant(tx, renamed(r, old, new), now, r) is not None],
                signed=[repo for repo in repos if _signed(tx, repo)],
            )
        refusal = project_move_refusal(facts)
        if refusal is not None:
            raise MoveRefused(refusal, forbidden=is_rights_refusal(refusal))
        report = MoveReport("project", old, new, principal.name or "operator")
        report.repositories = {repo: renamed(repo, old, new) for repo in repos}
        self._move_repositories(tx, report.repositories, report, now)
        tx.move_project(old, new)
        ensure_groups(tx, new)
        for key in list(tx.iter_token_keys()):  # deploy tokens belong to the project by its path
            row = tx.token(key)
            if row is not None and row["kind"] == "deploy" and row["owner"] == old:
                tx.put_token(key, row["id"], {**row, "owner": new})
        self._leave_alias(tx, "project", old, new, report, now)
        # After the project itself moved: its hooks, which moved with it, are found at the new path.
        self._record(tx, report.repositories, origin, None)
        return report

    # -- one repository -----------------------------------------------------------------------

    def move_repository(self, old: str, new: str, principal: Principal = OPERATOR, origin: Origin | None = None) -> MoveReport:
        """Move repository `old` to `new` for `principal`; `origin`: the request (or command) its event names."""
        began = time.perf_counter()
        report = self.meta.write(lambda tx: self._move_repository(tx, old, new, principal, time.time(), origin))
        return self._audit(report, began)

    def _move_repository(
        self, tx: MetaWriter, old: str, new: str, principal: Principal, now: float, origin: Origin | None
    ) -> MoveReport:
        found: dict[str, bool] = {}

        def is_project(path: str) -> bool:
            found.setdefault(path, tx.project(path) is not None)
            return found[path]

        source_project, target_project = project_of(old, is_project), project_of(new, is_project)
        source = _project_access(tx, source_project, principal) if source_project else None
        target = _project_access(tx, target_project, principal) if target_project else None
        if source is not None and target is not None:
            allowed = may_move_repository(principal, source, target)
        else:  # outside every project: only the operator (an open registry has no projects)
            allowed = principal.admin
        exists = tx.has_repository(old)
        occupied = None
        if tx.has_repository(new):
            occupied = f"repository {new} exists"
        elif (alias := _alias_occupant(tx, new, now, old)) is not None:
            occupied = alias
        facts = RepositoryMove(
            old,
            new,
            allowed,
            exists=exists,
            source_project=source_project,
            target_project=target_project,
            nearest_target=nearest_project(new, is_project),
            occupied=occupied,
            signed=exists and allowed and _signed(tx, old),
            depth_rule=source_project is not None or target_project is not None,
        )
        refusal = repository_move_refusal(facts)
        if refusal is not None:
            raise MoveRefused(refusal, forbidden=is_rights_refusal(refusal))
        if source_project != target_project:
            try:
                self.accounting.transfer(tx, old, source_project, target_project)
            except RegistryError as exc:
                raise MoveRefused(exc.message) from None
        report = MoveReport("repository", old, new, principal.name or "operator", repositories={old: new})
        self._move_repositories(tx, report.repositories, report, now)
        self._record(tx, report.repositories, origin, source_project if source_project != target_project else None)
        return report

    # -- shared steps -------------------------------------------------------------------------

    def _move_repositories(self, tx: MetaWriter, names: dict[str, str], report: MoveReport, now: float) -> None:
        for upload_id, row in list(tx.iter_uploads()):
            if row["repo"] in names and "moved_to" not in row:
                tx.put_upload(upload_id, {**row, "moved_to": names[row["repo"]]})
                report.uploads_cancelled += 1
            elif row.get("moved_to") in names:  # cancelled by an earlier move: say where it is now
                tx.put_upload(upload_id, {**row, "moved_to": names[row["moved_to"]]})
        for old, new in names.items():
            report.tags += sum(1 for _ in tx.iter_tags(old))
            if tx.alias(new) is not None:  # an expired alias: the path is free again
                tx.delete_alias(new)
            tx.move_repository(old, new)
            self._leave_alias(tx, "repository", old, new, report, now)

    def _record(self, tx: MetaWriter, names: dict[str, str], origin: Origin | None, left_project: str | None) -> None:
        """Queue a `move` event per repository; `left_project`: the project they left, whose hooks hear of it too."""
        if self.notifier is not None:
            for old, new in names.items():
                self.notifier.record(tx, moved(old, new), origin, also_project=left_project)

    def _leave_alias(self, tx: MetaWriter, kind: str, old: str, new: str, report: MoveReport, now: float) -> None:
        """Make `old` an alias of `new`; aliases that led to `old` lead to `new` now."""
        for path, row in list(tx.iter_aliases()):
            if row["kind"] == kind and row["target"] == old and in_force(row, now):
                tx.put_alias(path, {**row, "target": new})
        if tx.alias(new) is not None and kind == "project":
            tx.delete_alias(new)  # an expired alias of the new path: it is free again
        alias = new_alias(kind, new, now, self.alias_days)
        if alias is not None:
            tx.put_alias(old, alias)
            report.alias_until = alias["expires"]

    def _audit(self, report: MoveReport, began: float) -> MoveReport:
        report.seconds = round(time.perf_counter() - began, 4)
        audit.info(
            "%s moved %s %s to %s (%d repositories, %d tags, %d uploads cancelled, %.3f s)",
            report.by,
            report.kind,
            report.old,
            report.new,
            len(report.repositories),
            report.tags,
            report.uploads_cancelled,
            report.seconds,
            extra={"fields": {"event": "move", **report.to_json()}},
        )
        return report

    # -- aliases ------------------------------------------------------------------------------

    def aliases(self) -> list[dict[str, Any]]:
        now = time.time()
        with self.meta.read() as tx:
            return [{"path": path, **row, "active": in_force(row, now)} for path, row in tx.iter_aliases()]

    def remove_alias(self, path: str) -> None:
        """Remove the alias of `path` (the path is free for a new project or repository at once)."""
        if not self.meta.write(lambda tx: tx.delete_alias(path)):
            raise AccessError(f"no alias {path}")

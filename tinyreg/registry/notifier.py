"""Recording events for delivery: in the unit of work of the change, or (pulls) grouped.

An event of a change (push, delete, mount, move) is queued in the same unit of work as the change
itself: it is durable when the client gets its answer, with no write of its own, and it exists
exactly when the change does. A pull changes nothing, so its event waits in memory and a
background task (`flush`, about every `PULL_FLUSH_INTERVAL`) queues the pulls of that instant in
one unit of work; the pulls of the last instant before a crash can be lost.

An event is queued once per target that wants it (the configured endpoints, the hooks of the
project owning the repository; for a move between projects, the old project's hooks too), each
in its own bounded queue. When nothing wants an action,
nothing is recorded at all. A flush works in bulk: which queues want a repository's pulls is
looked up once per flush, events are encoded by an `EventEncoder` (what repeats is encoded
once) and each queue gets its events in one write.
"""

from __future__ import annotations

import socket
import time
import uuid
from typing import NamedTuple

from tinyreg.registry.event_bytes import EventEncoder, new_event_ids
from tinyreg.registry.events import PULL, Origin, Source, Subject
from tinyreg.registry.notification_settings import Endpoint, NotificationSettings, hook_endpoint
from tinyreg.registry.owners import project_of
from tinyreg.storage.interfaces import MetaReader, MetaStore, MetaWriter

PULL_FLUSH_INTERVAL = 0.1


class _Pull(NamedTuple):
    subject: Subject
    origin: Origin
    timestamp: float


def hooks_of(tx: MetaReader, repo: str) -> list[Endpoint]:
    """The hooks of the project owning `repo`, as endpoints."""
    path = project_of(repo, lambda candidate: tx.project(candidate) is not None)
    return project_hooks(tx, path) if path is not None else []


def project_hooks(tx: MetaReader, path: str) -> list[Endpoint]:
    """The hooks of project `path`, as endpoints."""
    return [hook_endpoint(path, hook_id, row) for hook_id, row in tx.project_hooks(path)]


class Notifier:
    """Queues events for the configured endpoints and the projects' hooks."""

    def __init__(self, meta: MetaStore, settings: NotificationSettings | None = None) -> None:
        self.meta = meta
        self.settings = settings or NotificationSettings()
        self.source = Source(socket.gethostname(), str(uuid.uuid4()))
        self._pulls: list[_Pull] = []
        self._endpoint_pulls = any(endpoint.wants(PULL, None) for endpoint in self.settings.active)
        with meta.read() as tx:
            self.hooks_exist = next(tx.iter_project_hooks(), None) is not None

    def listening_on(self, url: str) -> None:
        """The node's address in events' `source`: this host, and the port the server listens on."""
        port = url.rsplit(":", 1)[-1].rstrip("/")
        self.source = Source(f"{socket.gethostname()}:{port}", self.source.instance_id)

    def targets(self, tx: MetaReader) -> list[Endpoint]:
        """Every endpoint events may go to now: the configured ones and every project's hooks."""
        hooks = [hook_endpoint(path, hook_id, row) for path, hook_id, row in tx.iter_project_hooks()]
        return [*self.settings.active, *hooks]

    def record(self, tx: MetaWriter, subject: Subject, origin: Origin | None, *, also_project: str | None = None) -> None:
        """Queue the event of a change in its unit of work (`origin` None: not recorded, no event);
        `also_project`: a project whose hooks get it too (the one a repository moved out of)."""
        if origin is None:
            return
        hooks = hooks_of(tx, subject.repository) + (project_hooks(tx, also_project) if also_project else [])
        queues = self._queues(subject, hooks)
        if queues:
            event = EventEncoder(self.source).encode(subject, origin, new_event_ids(1)[0], time.time())
            for queue in queues:
                tx.queue_events(queue, [event], max_pending=self.settings.max_pending)

    def _queues(self, subject: Subject, hooks: list[Endpoint]) -> list[str]:
        """The queues that want an event about `subject`, each once (a hook of both projects of a
        move gets it once); `hooks`: the hooks read in the unit of work (not `hooks_exist`:
        another worker may have added one)."""
        wanted = [endpoint for endpoint in (*self.settings.active, *hooks) if endpoint.wants(subject.action, subject.media_type)]
        return list(dict.fromkeys(endpoint.queue for endpoint in wanted))

    @property
    def notes_pulls(self) -> bool:
        """Whether a pull's event may be wanted (else a pull costs nothing more)."""
        return self._endpoint_pulls or self.hooks_exist

    def note_pull(self, subject: Subject, origin: Origin) -> None:
        """Keep a pull's event for the next `flush` (no write on the pull's path)."""
        if self.notes_pulls:
            self._pulls.append(_Pull(subject, origin, time.time()))

    @property
    def has_pulls(self) -> bool:
        return bool(self._pulls)

    def take_pulls(self) -> list[_Pull]:
        """The pulls noted since the last take (on the event loop's thread: no note is lost)."""
        pulls, self._pulls = self._pulls, []
        return pulls

    def flush(self, pulls: list[_Pull] | None = None) -> int:
        """Queue `pulls` (else those noted since the last take) in one unit of work; how many."""
        pulls = self.take_pulls() if pulls is None else pulls

        def change(tx: MetaWriter) -> None:
            self.hooks_exist = next(tx.iter_project_hooks(), None) is not None
            encoder, ids = EventEncoder(self.source), iter(new_event_ids(len(pulls)))
            hooks: dict[str, list[Endpoint]] = {}
            queues_of: dict[tuple[str, str | None], list[str]] = {}
            batches: dict[str, list[bytes]] = {}
            for subject, origin, timestamp in pulls:
                key = (subject.repository, subject.media_type)
                queues = queues_of.get(key)
                if queues is None:
                    if subject.repository not in hooks:
                        hooks[subject.repository] = hooks_of(tx, subject.repository)
                    queues = queues_of[key] = self._queues(subject, hooks[subject.repository])
                event_id = next(ids)
                if queues:
                    event = encoder.encode(subject, origin, event_id, timestamp)
                    for queue in queues:
                        batches.setdefault(queue, []).append(event)
            for queue, events in batches.items():
                tx.queue_events(queue, events, max_pending=self.settings.max_pending)

        if pulls:
            self.meta.write(change)
        return len(pulls)

    def look_for_hooks(self) -> None:
        """Look again whether any hook exists (one may have been added, here or by another worker),
        so pulls are noted only when something may want them."""
        with self.meta.read() as tx:
            self.hooks_exist = next(tx.iter_project_hooks(), None) is not None

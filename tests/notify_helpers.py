"""A small HTTP receiver of event notifications for tests: it collects what is posted to it.

`Receiver` answers every POST with `status` (202 by default), can be stopped and started again
on the same port (an endpoint down for a while), and can `hang`: accept connections and never
answer. Waits are bounded: `wait_for` gives up after its timeout and says so.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tinyreg.registry.notification_settings import Endpoint, NotificationSettings


class Post:
    def __init__(self, path: str, pairs: list[tuple[str, str]], body: bytes) -> None:
        self.path = path
        self.pairs = pairs
        self.headers = {name.lower(): value for name, value in pairs}  # the last value of each
        self.body = body
        self.events: list[dict[str, Any]] = json.loads(body)["events"]

    def values(self, name: str) -> list[str]:
        """Every value of a header, in order."""
        return [value for key, value in self.pairs if key.lower() == name.lower()]


class Receiver:
    def __init__(self, status: int = 202) -> None:
        self.status = status
        self.posts: list[Post] = []
        self.attempts = 0
        self._changed = threading.Condition()
        self._server: ThreadingHTTPServer | None = None
        self._hanging: socket.socket | None = None
        self._held: list[socket.socket] = []
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/events"

    def endpoint(self, name: str = "listener", **fields: Any) -> Endpoint:
        return Endpoint(name=name, url=self.url, **{"timeout": 5.0, "backoff": 0.05, "threshold": 3, **fields})

    def settings(self, **fields: Any) -> NotificationSettings:
        return NotificationSettings((self.endpoint(**fields),))

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the name http.server calls
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with receiver._changed:
                    receiver.attempts += 1
                    status = receiver.status
                    if 200 <= status < 300:
                        receiver.posts.append(Post(self.path, list(self.headers.items()), body))
                    receiver._changed.notify_all()
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._hanging is not None:
            self._hanging.close()
            self._hanging = None
        for held in self._held:
            held.close()
        self._held.clear()

    def hang(self) -> Receiver:
        """Listen and accept, never answer (a receiver stuck)."""
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self.port = listener.getsockname()[1]
        self._hanging = listener

        def accept() -> None:
            while True:
                try:
                    connection, _ = listener.accept()
                except OSError:
                    return
                with self._changed:
                    self.attempts += 1
                    self._held.append(connection)
                    self._changed.notify_all()

        threading.Thread(target=accept, daemon=True).start()
        return self

    def events(self) -> list[dict[str, Any]]:
        with self._changed:
            return [event for post in self.posts for event in post.events]

    def wait_for(self, done: Callable[[Receiver], bool], timeout: float = 60.0) -> bool:
        """Wait until `done(self)` holds (True), or `timeout` seconds pass (False)."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not done(self):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._changed.wait(min(left, 0.5))
        return True


def actions_of(events: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """(action, kind: manifest or blob) of each event, from its target URL."""
    return [
        (event["action"], "manifest" if "/manifests/" in event["target"].get("url", "/manifests/") else "blob")
        for event in events
    ]

"""A notification receiver for the benchmark: answers every POST at once and counts the events.

`scripts/bench.py --notify-sink` starts one in this process (a thread on the client CPUs) and
points `tinyreg serve` at it with one `[[notifications.endpoints]]`, so the figures include
what queueing and delivering events costs the registry.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


class _Handler(BaseHTTPRequestHandler):
    server: Sink

    def do_POST(self) -> None:  # noqa: N802 (the standard library's name)
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            events = len(json.loads(body).get("events", []))
        except ValueError:
            events = 0
        with self.server.lock:
            self.server.events += events
            self.server.posts += 1
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (the standard library's name)
        pass


class Sink(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.lock = threading.Lock()
        self.events = 0
        self.posts = 0
        self._thread = threading.Thread(target=self.serve_forever, name="bench-sink", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/events"

    def write_config(self, path: Path) -> Path:
        """A tinyreg configuration file with this sink as its one notification endpoint."""
        path.write_text(
            f'[[notifications.endpoints]]\nname = "bench"\nurl = "{self.url}"\ntimeout = "5s"\nthreshold = 5\nbackoff = "1s"\n'
        )
        return path

    def start(self) -> Sink:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()

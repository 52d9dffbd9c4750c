"""`--workers N`: the workers' metrics counts, shared through files of a private directory.

Each worker writes its counts to `<pid>.json` (atomically: a reader sees the old file or the
new one); the worker that answers a scrape reads the others'. The directory is made by the
parent process, owner-only, outside the data directory, and removed when the workers stop.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


class SharedCounts:
    """The files of one worker's counts and of its peers', in `directory`."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def write(self, document: dict[str, Any]) -> None:
        target = self.directory / f"{os.getpid()}.json"
        partial = target.with_suffix(".tmp")
        partial.write_text(json.dumps(document), encoding="utf-8")
        os.replace(partial, target)

    def others(self) -> list[dict[str, Any]]:
        """The latest counts of every other worker, stopped ones included (their counts still count)."""
        mine = f"{os.getpid()}.json"
        found = []
        for entry in os.scandir(self.directory):
            if entry.name.endswith(".json") and entry.name != mine:
                try:
                    with open(entry.path, encoding="utf-8") as file:
                        found.append(json.load(file))
                except (OSError, ValueError):
                    continue  # a worker gone or mid-write: its next file will count
        return found

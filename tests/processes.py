"""`tinyreg` as a subprocess, ports, data directories, process resources and large generated content."""

from __future__ import annotations

import os
import random
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

LISTENING = re.compile(r"listening on (https?://(\S+?):(\d+))(?:\s|$)")
ACCESS_LINE = re.compile(r'"(?P<method>[A-Z]+) (?P<path>\S+)" (?P<status>\d{3}) (?P<bytes>\d+) (?P<ms>\d+(?:\.\d+)?)ms')


def tinyreg_command(*args: str) -> list[str]:
    """`python -m tinyreg ARGS` with the interpreter running the tests."""
    return [sys.executable, "-m", "tinyreg", *args]


def clean_env(**variables: str) -> dict[str, str]:
    """The test environment without any `TINYREG_*` variable, plus `variables`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TINYREG_")}
    env.update(variables)
    return env


def free_port(host: str = "127.0.0.1") -> int:
    """A port that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


class ServerProcess:
    """A `tinyreg` subprocess; reader threads collect its stdout and stderr lines as they come."""

    def __init__(self, args: list[str], *, cwd: Path, env: dict[str, str] | None = None) -> None:
        self.process = subprocess.Popen(
            tinyreg_command(*args),
            cwd=cwd,
            env=env if env is not None else clean_env(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: dict[str, list[str]] = {"stdout": [], "stderr": []}
        self._changed = threading.Condition()
        self._readers = [
            threading.Thread(target=self._collect, args=(name, pipe), daemon=True)
            for name, pipe in (("stdout", self.process.stdout), ("stderr", self.process.stderr))
        ]
        for reader in self._readers:
            reader.start()

    @property
    def pid(self) -> int:
        """The process id."""
        return self.process.pid

    def _collect(self, name: str, pipe: object) -> None:
        for line in pipe:  # type: ignore[attr-defined]
            with self._changed:
                self.lines[name].append(line.rstrip("\n"))
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    def text(self, stream: str) -> str:
        """Everything read so far from `stream` ("stdout" or "stderr")."""
        with self._changed:
            return "\n".join(self.lines[stream])

    def wait_for(self, pattern: re.Pattern[str], stream: str = "stdout", timeout: float = 30) -> re.Match[str]:
        """The first line of `stream` matching `pattern`; fails after `timeout` seconds or at exit."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for line in self.lines[stream]:
                    if found := pattern.search(line):
                        return found
                remaining = deadline - time.monotonic()
                exited = self.process.poll() is not None and not any(r.is_alive() for r in self._readers)
                if remaining <= 0 or exited:
                    raise AssertionError(
                        f"no line matching {pattern.pattern!r} on {stream} "
                        f"(exit code {self.process.poll()}):\n{self.text('stdout')}\n{self.text('stderr')}"
                    )
                self._changed.wait(min(remaining, 0.2))

    def wait_listening(self, timeout: float = 30) -> str:
        """The base URL the server prints once it listens."""
        return self.wait_for(LISTENING, timeout=timeout).group(1)

    def wait_exit(self, timeout: float = 30) -> int:
        """The exit code, once the process and both readers are done."""
        code = self.process.wait(timeout=timeout)
        for reader in self._readers:
            reader.join(timeout=timeout)
        return code

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        """Send `sig` and return the exit code."""
        self.process.send_signal(sig)
        return self.wait_exit(timeout)

    def kill(self) -> None:
        """SIGKILL the process (if still running) and wait for it."""
        if self.process.poll() is None:
            self.process.kill()
        self.wait_exit()

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.kill()


def memory_kib(pid: int) -> dict[str, int]:
    """The `Vm*` lines of `/proc/<pid>/status`, in KiB."""
    values = {}
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            key, _, rest = line.partition(":")
            if key.startswith("Vm") and rest.strip().endswith("kB"):
                values[key] = int(rest.split()[0])
    return values


MiB = 1024 * 1024


def random_chunks(seed: int, size: int, chunk: int = 16 * MiB) -> Iterator[bytes]:
    """`size` pseudo-random bytes determined by `seed`, as chunks of at most `chunk` bytes.

    Any `chunk` that is a multiple of 4 yields the same bytes.
    """
    source = random.Random(seed)
    remaining = size
    while remaining > 0:
        piece = source.randbytes(min(chunk, remaining))
        remaining -= len(piece)
        yield piece


def random_bytes(seed: int, size: int) -> bytes:
    """`size` pseudo-random bytes determined by `seed` (the concatenation of `random_chunks`)."""
    return b"".join(random_chunks(seed, size))


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 30, interval: float = 0.05) -> None:
    """Poll `condition` until it holds; fail with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"still not {what} after {timeout} s")
        time.sleep(interval)


@contextmanager
def port_in_use(host: str = "127.0.0.1") -> Iterator[int]:
    """A port of `host` held by a listening socket for the duration of the block."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        sock.listen()
        yield sock.getsockname()[1]


def unusable_data_dir(root: Path) -> Path:
    """A data directory that cannot be created: its parent is a regular file under `root`."""
    blocker = root / "a-regular-file"
    blocker.write_text("not a directory\n")
    return blocker / "data"


def accepts_connections(host: str) -> bool:
    """Whether something listens on `host` (`address:port`)."""
    address, _, port = host.rpartition(":")
    try:
        with socket.create_connection((address, int(port)), timeout=10):
            return True
    except ConnectionRefusedError:
        return False


def open_fd_count() -> int:
    """How many file descriptors this process has open."""
    return len(os.listdir("/proc/self/fd"))


def fd_targets(pid: int) -> Counter[str]:
    """What the process's open file descriptors point to (files, `socket:[inode]`, pipes...)."""
    targets: Counter[str] = Counter()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            targets[os.readlink(f"/proc/{pid}/fd/{fd}")] += 1
        except FileNotFoundError:
            pass  # closed while listing
    return targets

"""The two servers under test, started by the benchmark itself on 127.0.0.1 and pinned to the
server CPUs, their memory peaks, and start-up timings."""

from __future__ import annotations

import http.client
import os
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench_http import Connection

HOST = "127.0.0.1"
DISTRIBUTION_BINARY = "/usr/bin/docker-registry"


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def answers_v2(port: int) -> bool:
    """Whether `GET /v2/` on the port answers 200 right now."""
    conn = http.client.HTTPConnection(HOST, port, timeout=2)
    try:
        conn.request("GET", "/v2/")
        return conn.getresponse().status == 200
    except OSError:
        return False
    finally:
        conn.close()


def wait_until_answering(port: int, process: subprocess.Popen[bytes] | None, timeout: float = 30) -> None:
    """Poll `GET /v2/` every 2 ms until it answers 200; fail if the process exits or time runs out."""
    deadline = time.monotonic() + timeout
    while not answers_v2(port):
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode} before answering /v2/")
        if time.monotonic() > deadline:
            raise RuntimeError(f"nothing answered GET /v2/ on port {port} within {timeout} s")
        time.sleep(0.002)


def distribution_config(root: Path, port: int, s3_bucket: str = "") -> str:
    """A Distribution configuration: filesystem storage under `root` (or its `s3` driver on
    `s3_bucket`, reached as the AWS_* variables say), deletes on, quiet logs."""
    if s3_bucket:
        storage = (
            "  s3:\n"
            f"    accesskey: {os.environ['AWS_ACCESS_KEY_ID']}\n"
            f"    secretkey: {os.environ['AWS_SECRET_ACCESS_KEY']}\n"
            f"    region: {os.environ.get('AWS_REGION', 'us-east-1')}\n"
            f"    regionendpoint: {os.environ['AWS_ENDPOINT_URL_S3']}\n"
            f"    bucket: {s3_bucket}\n"
            f"    rootdirectory: /distribution-{root.parent.parent.name}\n"  # the run's own: workdir/distribution/storage
            "    secure: false\n"
            "    v4auth: true\n"
            "  redirect:\n    disable: true\n"
        )
    else:
        storage = f"  filesystem:\n    rootdirectory: {root}\n"
    return (
        "version: 0.1\n"
        "log:\n  level: warn\n  accesslog:\n    disabled: true\n"
        "storage:\n"
        f"{storage}"
        "  cache:\n    blobdescriptor: inmemory\n"
        "  delete:\n    enabled: true\n"
        "  maintenance:\n    uploadpurging:\n      enabled: false\n"
        f"http:\n  addr: {HOST}:{port}\n  secret: tinyreg-bench\n"
    )


def tinyreg_command(data: Path, port: int, extra: str = "") -> list[str]:
    """`python -m tinyreg serve` on 127.0.0.1:`port` with data in `data`, quiet."""
    return [
        sys.executable,
        "-m",
        "tinyreg",
        "serve",
        "--host",
        HOST,
        "--port",
        str(port),
        "--data",
        str(data),
        "--no-access-log",
        "--log-level",
        "warning",
        *shlex.split(extra),
    ]


def distribution_command(workdir: Path, port: int, s3_bucket: str = "") -> list[str]:
    """`docker-registry serve CONFIG` with a fresh configuration written into `workdir`."""
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "config.yml"
    config.write_text(distribution_config(workdir / "storage", port, s3_bucket))
    return [DISTRIBUTION_BINARY, "serve", str(config)]


@dataclass
class Server:
    """One server process under test."""

    name: str
    command: list[str]
    port: int
    cpus: str
    log_path: Path
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def host(self) -> str:
        return HOST

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self) -> None:
        """Start the process pinned with taskset (which execs it, so the pid is the server's own)."""
        log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            ["taskset", "-c", self.cpus, *self.command], stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
        log.close()
        try:
            wait_until_answering(self.port, self.process)
        except RuntimeError as exc:
            self.stop()
            raise RuntimeError(f"{self.name} did not start: {exc}\n{self.log_tail()}") from exc

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 10 s; only this process."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)

    def log_tail(self, lines: int = 20) -> str:
        """The last lines the server wrote."""
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def alive(self) -> None:
        """Fail when the server process has died."""
        if self.process is None or self.process.poll() is not None:
            raise RuntimeError(f"{self.name} is not running\n{self.log_tail()}")

    def connection(self, timeout: float = 120) -> Connection:
        return Connection(HOST, self.port, self.name, timeout)

    def _pids(self) -> list[int]:
        found, queue = [], [self.pid]
        while queue:
            pid = queue.pop()
            found.append(pid)
            for task in Path(f"/proc/{pid}/task").glob("*"):
                try:
                    queue.extend(int(child) for child in (task / "children").read_text().split())
                except OSError:
                    pass
        return found

    def reset_peak_rss(self) -> bool:
        """Reset VmHWM of the server and its children (write 5 to clear_refs); False if refused."""
        try:
            for pid in self._pids():
                Path(f"/proc/{pid}/clear_refs").write_text("5")
            return True
        except OSError:
            return False

    def cpu_ms(self) -> float:
        """CPU time (user and system) the server process and its children used so far, in ms."""
        ticks = 0
        for pid in self._pids():
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
        return ticks * 1000 / os.sysconf("SC_CLK_TCK")

    def peak_rss_mib(self) -> float:
        """VmHWM of the server process plus its children, in MiB."""
        total = 0
        for pid in self._pids():
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    total += int(line.split()[1])
        return total / 1024


# -- start-up timings ---------------------------------------------------------------------------


def embedded_start_ms(runs: int) -> list[float]:
    """Milliseconds from calling `run_registry()` (already imported) to the first 200 on /v2/."""
    from tinyreg.testing import run_registry

    timings = []
    for _ in range(runs):
        began = time.perf_counter()
        with run_registry() as registry:
            wait_until_answering(int(registry.host.rsplit(":", 1)[1]), None, timeout=30)
            timings.append((time.perf_counter() - began) * 1000)
    return timings


_COLD = (
    "import http.client\n"
    "from tinyreg.testing import run_registry\n"
    "with run_registry() as r:\n"
    "    c = http.client.HTTPConnection(*r.host.rsplit(':', 1))\n"
    "    c.request('GET', '/v2/')\n"
    "    assert c.getresponse().status == 200\n"
    "    print('ready', flush=True)\n"
)


def cold_start_ms(runs: int, cpus: str) -> list[float]:
    """Milliseconds for a fresh `python -c` (pinned to `cpus`) to import tinyreg, start it and GET /v2/."""
    timings = []
    for _ in range(runs):
        began = time.perf_counter()
        child = subprocess.Popen(["taskset", "-c", cpus, sys.executable, "-c", _COLD], stdout=subprocess.PIPE)
        assert child.stdout is not None
        line = child.stdout.readline()
        elapsed = (time.perf_counter() - began) * 1000
        child.wait(timeout=30)
        if line.strip() != b"ready" or child.returncode != 0:
            raise RuntimeError(f"cold start failed: {line!r}, exit {child.returncode}")
        timings.append(elapsed)
    return timings


def exec_start_ms(runs: int, cpus: str, workdir: Path, kind: str, tinyreg_args: str = "") -> list[float]:
    """Milliseconds from exec of a server (`tinyreg` serve or `distribution`) to its first 200 on /v2/."""
    timings = []
    for _ in range(runs):
        port = free_port()
        place = Path(tempfile.mkdtemp(prefix=f"{kind}-start-", dir=workdir))
        command = tinyreg_command(place / "data", port, tinyreg_args) if kind == "tinyreg" else distribution_command(place, port)
        began = time.perf_counter()
        process = subprocess.Popen(["taskset", "-c", cpus, *command], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_until_answering(port, process, timeout=30)
            timings.append((time.perf_counter() - began) * 1000)
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    return timings


def describe_machine() -> dict[str, object]:
    """What the numbers were measured on."""
    version = subprocess.run([DISTRIBUTION_BINARY, "--version"], capture_output=True, text=True).stdout.strip()
    import tinyreg

    return {
        "cpus_online": os.cpu_count(),
        "python": sys.version.split()[0],
        "kernel": os.uname().release,
        "distribution": version,
        "tinyreg": tinyreg.__version__,
    }

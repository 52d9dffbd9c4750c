"""A throw-away Ceph cluster with a RADOS Gateway (S3) on 127.0.0.1, for one test session.

One monitor, one memstore OSD (objects in the OSD's RAM, capped at MEMSTORE_BYTES) and one
radosgw, all inside a temporary directory, started by the tests and stopped at the session's
end by the PIDs they wrote (never a system service). ~3 s to ready.

Quirks handled here: radosgw needs `ms_mon_client_mode = crc` with `auth = none` (else it hangs
at start); a short `paxos_propose_interval` saves ~10 s of start-up; a memstore past its cap
goes "failsafe full" and requests HANG instead of failing, so the cap is well above what the
suite keeps and test clients set timeouts.

Needs `ceph-mon ceph-osd radosgw` (Debian: `apt-get install -y --no-install-recommends ...`).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import require_tool

TOOLS = ("monmaptool", "ceph-mon", "ceph-osd", "radosgw", "radosgw-admin", "ceph")
MEMSTORE_BYTES = 3 * 1024**3
ACCESS_KEY = "tinyregaccesskey"
SECRET_KEY = "tinyregsecretkey0123456789"
START_TIMEOUT = 120.0


@dataclass(frozen=True)
class CephGateway:
    endpoint: str
    access_key: str
    secret_key: str
    region: str = "us-east-1"

    def client(self) -> Any:
        """A boto3 client for looking at what the registry stored (timeouts: a full memstore hangs)."""
        import boto3
        from botocore.config import Config

        config = Config(s3={"addressing_style": "path"}, connect_timeout=30, read_timeout=30, retries={"max_attempts": 2})
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name=self.region,
            config=config,
        )

    def aws_env(self) -> dict[str, str]:
        """The standard AWS variables that lead a process to this gateway."""
        return {
            "AWS_ENDPOINT_URL_S3": self.endpoint,
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_REGION": self.region,
        }

    def keys(self, bucket: str, prefix: str) -> dict[str, int]:
        """Every key under `prefix` with its size."""
        pages = self.client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        return {found["Key"]: found["Size"] for page in pages for found in page.get("Contents", [])}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def missing_tools() -> list[str]:
    return [tool for tool in TOOLS if shutil.which(tool) is None]


def _config(directory: Path, fsid: str, mon_port: int, rgw_port: int, memstore_bytes: int) -> str:
    return f"""[global]
fsid = {fsid}
mon host = v2:127.0.0.1:{mon_port}
public addr = 127.0.0.1
cluster addr = 127.0.0.1
public network = 127.0.0.0/8
ms bind ipv6 = false
ms bind msgr1 = false
auth cluster required = none
auth service required = none
auth client required = none
auth supported = none
run dir = {directory}/run
pid file = {directory}/run/$name.pid
admin socket = {directory}/run/$name.asok
log file = {directory}/log/$name.log
log to stderr = false
err to stderr = false
crash dir = {directory}/crash
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool size one = true
mon allow pool delete = true
mon max pg per osd = 1000
mon warn on pool no redundancy = false
mon data avail warn = 2
mon data avail crit = 1
osd objectstore = memstore
memstore device bytes = {memstore_bytes}
[mon]
mon data = {directory}/mon/$cluster-$id
mon cluster log file = {directory}/log/cluster.log
paxos propose interval = 0.05
paxos min wait = 0.01
[osd]
osd data = {directory}/osd/$cluster-$id
osd journal size = 0
osd max object name len = 460
osd max object namespace len = 64
[client.rgw.a]
rgw frontends = beast endpoint=127.0.0.1:{rgw_port} tcp_nodelay=1
rgw data = {directory}/rgw
rgw dns name = 127.0.0.1
rgw thread pool size = 64
rgw gc obj min wait = 5
rgw gc processor period = 10
rgw gc processor max time = 10
ms mon client mode = crc
"""


def _run(*command: str, timeout: float = 60) -> str:
    return subprocess.run(command, check=True, capture_output=True, text=True, timeout=timeout).stdout


def _wait(check: object, what: str, timeout: float = START_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        time.sleep(0.2)
    raise RuntimeError(f"ceph: {what} did not come up within {timeout:.0f} s")


def _answers(url: str) -> bool:
    try:
        urllib.request.urlopen(url, timeout=2).close()
    except urllib.error.HTTPError:
        return True  # any HTTP answer: the gateway is up
    except OSError:
        return False
    return True


def start(directory: Path, memstore_bytes: int = MEMSTORE_BYTES) -> CephGateway:
    """Start mon, osd and radosgw in `directory` (short: unix socket paths must stay < 107 bytes),
    the OSD keeping at most `memstore_bytes` (in RAM)."""
    for name in ("run", "log", "mon", "osd", "rgw", "crash"):
        (directory / name).mkdir(parents=True, exist_ok=True)
    fsid = str(uuid.uuid4())
    mon_port, rgw_port = free_port(), free_port()
    conf = directory / "ceph.conf"
    conf.write_text(_config(directory, fsid, mon_port, rgw_port, memstore_bytes))
    c = ("-c", str(conf))
    _run("monmaptool", "--create", "--fsid", fsid, "--addv", "a", f"[v2:127.0.0.1:{mon_port}]", str(directory / "monmap"))
    _run("ceph-mon", *c, "--mkfs", "-i", "a", "--monmap", str(directory / "monmap"))
    _run("ceph-mon", *c, "-i", "a")
    _wait(
        lambda: subprocess.run(["ceph", *c, "--connect-timeout", "2", "mon", "stat"], capture_output=True).returncode == 0,
        "the monitor",
    )
    osd_uuid = str(uuid.uuid4())
    osd_id = _run("ceph", *c, "osd", "new", osd_uuid).strip()
    (directory / "osd" / f"ceph-{osd_id}").mkdir(parents=True, exist_ok=True)
    _run("ceph-osd", *c, "-i", osd_id, "--mkfs", "--osd-uuid", osd_uuid, timeout=120)
    _run("ceph-osd", *c, "-i", osd_id)
    _wait(lambda: f"osd.{osd_id} up" in _run("ceph", *c, "osd", "dump"), "the OSD")
    _run("radosgw", *c, "-n", "client.rgw.a", timeout=START_TIMEOUT)  # forks once initialised
    endpoint = f"http://127.0.0.1:{rgw_port}"
    _wait(lambda: _answers(endpoint + "/"), "radosgw")
    _run(
        "radosgw-admin", *c, "user", "create", "--uid=tinyreg", "--display-name=tinyreg",
        f"--access-key={ACCESS_KEY}", f"--secret-key={SECRET_KEY}",
    )  # fmt: skip
    return CephGateway(endpoint, ACCESS_KEY, SECRET_KEY)


def stop(directory: Path) -> None:
    """Stop exactly the daemons whose PIDs are in `directory/run` (gateway first, monitor last)."""
    for name in ("client.rgw.a", "osd.0", "mon.a"):
        pid_file = directory / "run" / f"{name}.pid"
        if not pid_file.exists():
            continue
        pid = int(pid_file.read_text().strip())
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            continue
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.1)
        else:
            os.kill(pid, signal.SIGKILL)


@pytest.fixture(scope="session")
def ceph_rgw() -> Iterator[CephGateway]:
    """A Ceph RADOS Gateway for this session; skipped (loudly) without Ceph, failing under CI=true.

    Tests share it: each one uses a fresh bucket or key prefix."""
    missing = missing_tools()
    require_tool(
        not missing,
        f"Ceph is not installed (missing {', '.join(missing)}): the S3 blob store cannot be tested",
        kind="TEST SERVER",
        install="apt-get install -y --no-install-recommends ceph-mon ceph-osd radosgw",
    )
    directory = Path(tempfile.mkdtemp(prefix="ceph-", dir="/tmp"))
    try:
        yield start(directory)
    finally:
        stop(directory)
        shutil.rmtree(directory, ignore_errors=True)

"""A throw-away PostgreSQL cluster for a test session: initdb into a temporary directory, the
postmaster as a child process on its own port of 127.0.0.1, stopped (and its files removed) at the end.

Never a system service. As root, initdb and postgres (which refuse to run as root) run as the
unprivileged user `postgres` of Debian's package. Durability is off (fsync, full page writes):
a test cluster that crashes is thrown away anyway.

Each test gets a fresh database made from a migrated template (`CREATE DATABASE ... TEMPLATE`,
a file copy of a few MiB), which is faster than running the migrations again. The template's
collation is ICU's en-US, which does not sort in byte order: listings must come out in byte
order all the same, from the schema's own `COLLATE "C"`.
"""

from __future__ import annotations

import itertools
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

BIN_DIRS = [Path("/usr/lib/postgresql/15/bin"), *sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)]
START_ATTEMPTS = 5  # another process may take the free port between our look and the postmaster's bind
READY_SECONDS = 60.0
ROLE = "tinyreg"
TEMPLATE = "tinyreg_template"


class PostgresMissing(RuntimeError):
    """No PostgreSQL binaries on this machine."""


def find_bin() -> Path:
    for directory in BIN_DIRS:
        if (directory / "initdb").is_file() and (directory / "postgres").is_file():
            return directory
    raise PostgresMissing("PostgreSQL is not installed (no initdb in /usr/lib/postgresql/*/bin): apt-get install postgresql")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class PostgresCluster:
    """One cluster: `url(db)` for the role `tinyreg`, `fresh_database()` for each test."""

    def __init__(self) -> None:
        self.bin = find_bin()
        self.as_user = "postgres" if os.geteuid() == 0 else None
        self.dir = Path(tempfile.mkdtemp(prefix="tinyreg-pg-"))
        self.password = secrets.token_hex(16)
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self._names = itertools.count(1)
        self._template_ready = False

    # -- running ----------------------------------------------------------------------------

    def _run_as(self) -> dict[str, object]:
        """Popen arguments that run a child as the cluster's user (postgres when we are root)."""
        if self.as_user is None:
            return {}
        entry = pwd.getpwnam(self.as_user)
        return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": [], "env": {**os.environ, "HOME": entry.pw_dir}}

    def start(self) -> PostgresCluster:
        if self.as_user is not None:
            entry = pwd.getpwnam(self.as_user)
            os.chown(self.dir, entry.pw_uid, entry.pw_gid)
        password_file = self.dir / "pw"
        password_file.write_text(self.password + "\n")
        if self.as_user is not None:
            os.chown(password_file, pwd.getpwnam(self.as_user).pw_uid, -1)
        subprocess.run(
            [str(self.bin / "initdb"), "-D", str(self.dir / "data"), "-U", "postgres", f"--pwfile={password_file}",
             "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"],
            check=True, capture_output=True, timeout=120, **self._run_as(),  # type: ignore[call-overload]
        )  # fmt: skip
        password_file.unlink()
        for _ in range(START_ATTEMPTS):
            self.port = free_port()
            if self._start_postmaster():
                break
        else:
            raise RuntimeError(f"postgres did not start; see {self.dir / 'postgres.log'}")
        self.admin(f"CREATE ROLE {ROLE} LOGIN CREATEDB PASSWORD '{self.password}'")
        return self

    def _start_postmaster(self) -> bool:
        """Start the postmaster on `self.port`; False if it exited (the port was taken meanwhile)."""
        log = open(self.dir / "postgres.log", "ab")  # noqa: SIM115 - the child keeps writing to it
        options = {
            "listen_addresses": "127.0.0.1",
            "port": str(self.port),
            "unix_socket_directories": "",
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "max_connections": "200",
        }
        args = [str(self.bin / "postgres"), "-D", str(self.dir / "data")]
        for name, value in options.items():
            args += ["-c", f"{name}={value}"]
        self.process = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log, stderr=log, **self._run_as())  # type: ignore[call-overload]
        log.close()
        import psycopg

        deadline = time.monotonic() + READY_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            try:
                psycopg.connect(self.url("postgres", user="postgres"), connect_timeout=2).close()
                return True
            except psycopg.OperationalError:
                time.sleep(0.05)
        raise RuntimeError(f"postgres did not accept connections within {READY_SECONDS} s; see {self.dir / 'postgres.log'}")

    def stop(self) -> None:
        """Fast shutdown of our postmaster only (SIGINT to its pid), then remove its files."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        shutil.rmtree(self.dir, ignore_errors=True)

    # -- databases --------------------------------------------------------------------------

    def url(self, database: str, *, user: str = ROLE) -> str:
        return f"postgresql://{user}:{self.password}@127.0.0.1:{self.port}/{database}"

    def admin(self, sql: str) -> None:
        """Run `sql` as the cluster's superuser."""
        import psycopg

        with psycopg.connect(self.url("postgres", user="postgres"), autocommit=True) as conn:
            conn.execute(sql.encode())

    def _template(self) -> None:
        """The template every test database copies: empty, migrated, taking no connections."""
        if self._template_ready:
            return
        import psycopg
        from tinyreg.storage.pg.store import PgMetaStore

        try:  # a collation that is not byte order, so that the suite shows the schema's COLLATE "C" is what orders
            self.admin(f"CREATE DATABASE {TEMPLATE} OWNER {ROLE} LOCALE_PROVIDER icu ICU_LOCALE 'en-US' TEMPLATE template0")
        except psycopg.errors.Error:  # a server built without ICU
            self.admin(f"CREATE DATABASE {TEMPLATE} OWNER {ROLE}")
        PgMetaStore(self.url(TEMPLATE)).close()
        self.admin(f"ALTER DATABASE {TEMPLATE} WITH ALLOW_CONNECTIONS false IS_TEMPLATE true")
        self._template_ready = True

    def fresh_database(self, *, migrated: bool = True) -> str:
        """A new database owned by `tinyreg` (with the schema unless not `migrated`); its URL."""
        import psycopg

        self._template()
        name = f"test_{os.getpid()}_{next(self._names)}"
        source = TEMPLATE if migrated else "template0"
        deadline = time.monotonic() + 30
        while True:
            try:
                self.admin(f"CREATE DATABASE {name} OWNER {ROLE} TEMPLATE {source}")
                return self.url(name)
            except psycopg.errors.ObjectInUse:  # the template's last connection is still closing
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def terminate_connections(self, url: str) -> int:
        """Close every connection to the database of `url` from the server's side (as a restart
        or a failover would); how many were closed."""
        import psycopg

        with psycopg.connect(self.url("postgres", user="postgres"), autocommit=True) as conn:
            rows = conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (url.rsplit("/", 1)[1],)
            ).fetchall()
        return len(rows)

    def drop_database(self, url: str) -> None:
        self.admin(f"DROP DATABASE IF EXISTS {url.rsplit('/', 1)[1]} WITH (FORCE)")

"""`tinyreg serve` and `tinyreg --version` as a person runs them: a process, its output, its exit code."""

from __future__ import annotations

import re
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import tinyreg

from tests.helpers import api_client, push_blob
from tests.processes import ACCESS_LINE, LISTENING, ServerProcess, clean_env, free_port, tinyreg_command

SOURCES = ("file", "env", "flag")
HOSTS = {"file": "127.0.0.2", "env": "127.0.0.3", "flag": "127.0.0.4"}


def serve(cwd: Path, *args: str, **env: str) -> ServerProcess:
    """Start `tinyreg serve ARGS` in `cwd` with only the `TINYREG_*` variables given."""
    return ServerProcess(["serve", *args], cwd=cwd, env=clean_env(**env))


def run_tinyreg(command: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """Run a short-lived tinyreg command to completion (bounded)."""
    return subprocess.run(command, cwd=cwd, env=clean_env(**env), capture_output=True, text=True, timeout=60)


def test_serve_prints_the_url_it_listens_on(tmp_path: Path) -> None:
    with serve(tmp_path, "--port", "0", "--data", str(tmp_path / "data")) as server:
        found = server.wait_for(LISTENING)
        url, host, port = found.group(1), found.group(2), int(found.group(3))
        assert host == "127.0.0.1"
        assert port != 0
        response = httpx.get(f"{url}/v2/")
        assert response.status_code == 200
        assert response.json() == {}


def test_defaults_are_loopback_and_tinyreg_data_in_the_working_directory(tmp_path: Path) -> None:
    with serve(tmp_path, "--port", "0") as server:
        found = server.wait_for(LISTENING)
        assert found.group(2) == "127.0.0.1"
        assert (tmp_path / "tinyreg-data" / "meta").is_dir()


@pytest.mark.parametrize(
    "present",
    [("file",), ("env",), ("flag",), ("file", "env"), ("file", "flag"), ("env", "flag"), ("file", "env", "flag")],
    ids="+".join,
)
def test_flags_win_over_environment_which_wins_over_the_config_file(tmp_path: Path, present: tuple[str, ...]) -> None:
    ports = {source: free_port() for source in SOURCES}
    data = {source: tmp_path / f"data-{source}" for source in SOURCES}
    args: list[str] = []
    env: dict[str, str] = {}
    if "file" in present:
        config = tmp_path / "tinyreg.toml"
        config.write_text(f'host = "{HOSTS["file"]}"\nport = {ports["file"]}\ndata = "{data["file"]}"\n')
        args += ["--config", str(config)]
    if "env" in present:
        env = {"TINYREG_HOST": HOSTS["env"], "TINYREG_PORT": str(ports["env"]), "TINYREG_DATA": str(data["env"])}
    if "flag" in present:
        args += ["--host", HOSTS["flag"], "--port", str(ports["flag"]), "--data", str(data["flag"])]
    winner = present[-1]
    with serve(tmp_path, *args, **env) as server:
        url = server.wait_listening()
        assert url == f"http://{HOSTS[winner]}:{ports[winner]}"
        assert httpx.get(f"{url}/v2/").status_code == 200
        assert (data[winner] / "meta").is_dir()
        assert [s for s in SOURCES if s != winner and data[s].exists()] == []


def test_config_file_can_be_named_by_TINYREG_CONFIG(tmp_path: Path) -> None:
    config = tmp_path / "elsewhere.toml"
    config.write_text(f'port = 0\ndata = "{tmp_path / "from-file"}"\n')
    with serve(tmp_path, TINYREG_CONFIG=str(config)) as server:
        server.wait_listening()
        assert (tmp_path / "from-file" / "meta").is_dir()


REQUESTS = [
    ("GET", "/v2/", 200),
    ("HEAD", "/v2/", 200),
    ("GET", "/v2/group/app/manifests/latest", 404),
    ("HEAD", "/v2/group/app/blobs/sha256:" + "0" * 64, 404),
    ("POST", "/v2/group/app/blobs/uploads/", 202),
    ("GET", "/v2/_catalog", 200),
    ("DELETE", "/v2/", 405),
]


def test_access_log_has_one_line_per_request_with_method_path_status_bytes_and_duration(tmp_path: Path) -> None:
    with serve(tmp_path, "--port", "0", "--data", str(tmp_path / "data")) as server:
        url = server.wait_listening()
        expected = []
        with httpx.Client(base_url=url) as client:
            for method, path, status in REQUESTS:
                response = client.request(method, path)
                assert response.status_code == status, (method, path, response.text)
                expected.append((method, path, status, len(response.content)))
        assert server.stop(signal.SIGTERM) == 0
    logged = [ACCESS_LINE.search(line) for line in server.lines["stderr"]]
    entries = [m for m in logged if m is not None]
    assert [(m["method"], m["path"], int(m["status"]), int(m["bytes"])) for m in entries] == expected
    assert all(float(m["ms"]) >= 0 for m in entries)


def test_no_access_log_silences_the_request_lines(tmp_path: Path) -> None:
    with serve(tmp_path, "--port", "0", "--data", str(tmp_path / "data"), "--no-access-log") as server:
        url = server.wait_listening()
        with httpx.Client(base_url=url) as client:
            for method, path, status in REQUESTS:
                assert client.request(method, path).status_code == status
        assert server.stop(signal.SIGTERM) == 0
    assert [line for line in server.lines["stderr"] if ACCESS_LINE.search(line)] == []


@pytest.mark.parametrize(("level", "info_shown"), [("info", True), ("warning", False), ("error", False)])
def test_log_level_decides_whether_info_lines_are_written(tmp_path: Path, level: str, info_shown: bool) -> None:
    with serve(tmp_path, "--port", "0", "--data", str(tmp_path / "data"), "--log-level", level) as server:
        url = server.wait_listening()
        assert httpx.get(f"{url}/v2/").status_code == 200
        assert server.stop(signal.SIGTERM) == 0
    info_lines = [line for line in server.lines["stderr"] if " INFO " in line]
    access_lines = [line for line in server.lines["stderr"] if ACCESS_LINE.search(line)]
    assert bool(info_lines) is info_shown, server.text("stderr")
    assert len(access_lines) == (1 if info_shown else 0)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=lambda s: s.name)
def test_a_signal_stops_the_server_cleanly_and_the_data_survives_a_restart(tmp_path: Path, sig: signal.Signals) -> None:
    data_dir = tmp_path / "data"
    content = b"kept across a restart\n" * 1000
    with serve(tmp_path, "--port", "0", "--data", str(data_dir)) as server:
        with api_client(server.wait_listening()) as client:
            digest = push_blob(client, "group/app", content)
        assert server.stop(sig) == 0
    assert "Traceback" not in server.text("stderr")
    with serve(tmp_path, "--port", "0", "--data", str(data_dir)) as again:
        response = httpx.get(f"{again.wait_listening()}/v2/group/app/blobs/{digest}")
        assert response.status_code == 200
        assert response.content == content
        assert again.stop(signal.SIGTERM) == 0


def _console_script() -> list[str]:
    beside = Path(sys.executable).parent / "tinyreg"
    found = str(beside) if beside.exists() else shutil.which("tinyreg")
    assert found, "the tinyreg console script is not installed"
    return [found]


@pytest.mark.parametrize("command", [_console_script(), tinyreg_command()], ids=["tinyreg", "python -m tinyreg"])
def test_version_prints_the_package_version(tmp_path: Path, command: list[str]) -> None:
    result = run_tinyreg([*command, "--version"], tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"tinyreg {tinyreg.__version__}"


def exit_code(server: ServerProcess, timeout: float = 30) -> int:
    """The exit code of a server expected to stop by itself; fails if it is still running after `timeout`."""
    try:
        return server.wait_exit(timeout)
    except subprocess.TimeoutExpired:
        pytest.fail(f"tinyreg is still running:\n{server.text('stdout')}\n{server.text('stderr')}")


def test_a_port_in_use_is_reported_clearly_with_exit_code_1(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with serve(tmp_path, "--port", str(port), "--data", str(tmp_path / "data")) as server:
            code = exit_code(server)
    assert code == 1
    [error] = [line for line in server.lines["stderr"] if line.startswith("tinyreg:")]
    assert error.startswith(f"tinyreg: cannot serve: cannot listen on 127.0.0.1:{port}: ")  # the port, not the data
    assert "in use" in error.lower()
    assert "Traceback" not in server.text("stderr")
    assert "listening" not in server.text("stdout")


BAD_CONFIGS = [
    pytest.param("port = = 1\n", {}, [], "not valid TOML", id="toml-syntax"),
    pytest.param('colour = "blue"\n', {}, [], "colour", id="unknown-setting"),
    pytest.param('port = "http"\n', {}, [], "port", id="port-not-a-number"),
    pytest.param("port = 70000\n", {}, [], "port", id="port-out-of-range"),
    pytest.param('log_level = "loud"\n', {}, [], "log_level", id="unknown-log-level"),
    pytest.param('upload_ttl = "soon"\n', {}, [], "upload_ttl", id="ttl-not-a-number"),
    pytest.param(None, {"TINYREG_PORT": "http"}, [], "TINYREG_PORT='http' cannot be used", id="env-port-not-a-number"),
    pytest.param(None, {"TINYREG_ACCESS_LOG": "maybe"}, [], "TINYREG_ACCESS_LOG", id="env-access-log-not-a-boolean"),
    pytest.param('auth = "yes"\n', {}, [], "auth must be true or false, not a string", id="string-for-bool"),
    pytest.param("upload_ttl = true\n", {}, [], "upload_ttl must be a duration", id="bool-for-duration"),
    pytest.param(None, {}, ["--config", "missing.toml"], "missing.toml", id="missing-file"),
    pytest.param(None, {}, ["--port", "http"], "--port", id="flag-port-not-a-number"),
]


@pytest.mark.parametrize(("config", "env", "args", "named"), BAD_CONFIGS)
def test_a_bad_setting_is_reported_clearly_with_exit_code_2(
    tmp_path: Path, config: str | None, env: dict[str, str], args: list[str], named: str
) -> None:
    args = ["--data", str(tmp_path / "data"), *args]
    if config is not None:
        (tmp_path / "tinyreg.toml").write_text(config)
        args += ["--config", str(tmp_path / "tinyreg.toml")]
    if "port" not in (config or "") and "TINYREG_PORT" not in env and "--port" not in args:
        args += ["--port", "0"]
    with serve(tmp_path, *args, **env) as server:
        code = exit_code(server)
    assert code == 2, server.text("stdout") + server.text("stderr")
    assert named in server.text("stderr")
    assert "Traceback" not in server.text("stderr")
    assert "listening" not in server.text("stdout")


def test_the_banner_says_url_absolute_data_directory_and_that_auth_is_off(tmp_path: Path) -> None:
    with serve(tmp_path, "--port", "0", "--data", "data") as server:
        url = server.wait_listening()
        server.wait_for(re.compile("auth: "))
        assert server.lines["stdout"] == [
            f"tinyreg {tinyreg.__version__} listening on {url}",
            f"  data directory: {tmp_path / 'data'}",
            "  auth: off: anyone who can reach it may pull, push and delete (--auth to require users)",
        ]


def test_auth_without_users_warns_how_to_add_one(tmp_path: Path) -> None:
    with serve(tmp_path, "--port", "0", "--data", str(tmp_path / "data"), "--auth") as server:
        server.wait_for(re.compile("auth: on, 0 users"))
        warning = server.wait_for(re.compile("tinyreg: warning: (.*)"), stream="stderr").group(1)
    assert "no users" in warning
    assert f"tinyreg user add admin --admin --data {tmp_path / 'data'}" in warning


def test_auth_with_users_counts_them(tmp_path: Path) -> None:
    data = tmp_path / "data"
    for name in ("root", "alice"):
        added = run_tinyreg(tinyreg_command("user", "add", name, "--no-password", "--init", "--data", str(data)), tmp_path)
        assert added.returncode == 0, added.stderr
    with serve(tmp_path, "--port", "0", "--data", str(data), "--auth") as server:
        server.wait_for(re.compile("auth: on, 2 users$"))
        assert server.stop(signal.SIGTERM) == 0
    assert "warning" not in server.text("stderr")


@pytest.mark.parametrize("place", ["under-a-file", "meta-is-a-file"])
def test_a_data_directory_that_cannot_be_used_is_told_apart_from_the_port(tmp_path: Path, place: str) -> None:
    (tmp_path / "file").write_text("")
    data = tmp_path / "file" / "data"
    if place == "meta-is-a-file":
        data = tmp_path / "data"
        data.mkdir(mode=0o700)  # owner-only: the only line is the error, no permission warning
        (data / "meta").write_text("")
    with serve(tmp_path, "--port", "0", "--data", str(data)) as server:
        code = exit_code(server)
    [error] = server.lines["stderr"]
    assert code == 1
    assert error.startswith("tinyreg: cannot serve: ") and "data directory" in error and str(data) in error
    assert "listen" not in error


PAGES = [("GET", "/", 200), ("GET", "/healthz", 200), ("GET", "/no-such-page", 404)]


def test_pages_get_an_access_log_line_like_the_api(tmp_path: Path) -> None:
    with serve(tmp_path, "--port", "0", "--data", str(tmp_path / "data")) as server:
        url = server.wait_listening()
        expected = []
        with httpx.Client(base_url=url) as client:
            for method, path, status in [*PAGES, ("GET", "/v2/", 200)]:
                response = client.request(method, path)
                assert response.status_code == status, (method, path)
                expected.append((method, path, status, len(response.content)))
        assert server.stop(signal.SIGTERM) == 0
    entries = [m for m in map(ACCESS_LINE.search, server.lines["stderr"]) if m is not None]
    assert [(m["method"], m["path"], int(m["status"]), int(m["bytes"])) for m in entries] == expected


@pytest.mark.parametrize("flag", ["--upload-ttl", "--token-ttl"])
def test_duration_flags_take_units(tmp_path: Path, flag: str) -> None:
    with serve(tmp_path, "--port", "0", "--data", str(tmp_path / "data"), flag, "12h") as server:
        server.wait_listening()
        assert server.stop(signal.SIGTERM) == 0
    with serve(tmp_path, "--port", "0", "--data", str(tmp_path / "data"), flag, "soon") as server:
        assert exit_code(server) == 2
    assert f"argument {flag}: not a duration: 'soon'" in server.text("stderr")

"""Which data directory an administration command works on, and what it does when there is none.

Only `tinyreg serve` and an explicit `--init` create a data directory: a mistyped `--data`
must fail loudly, never list an empty store or collect nothing with success.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.auth_helpers import admin_ok, tinyreg_admin
from tests.processes import clean_env, tinyreg_command

PASSWORD = "first-admin-password"

COMMANDS = [
    pytest.param(("user", "list"), None, id="user-list"),
    pytest.param(("user", "add", "root", "--password-stdin"), PASSWORD + "\n", id="user-add"),
    pytest.param(("project", "list"), None, id="project-list"),
    pytest.param(("project", "create", "team/app"), None, id="project-create"),
    pytest.param(("project", "member", "list", "team/app"), None, id="member-list"),
    pytest.param(("token", "list"), None, id="token-list"),
    pytest.param(("deploy-token", "list"), None, id="deploy-token-list"),
    pytest.param(("keys", "rotate"), None, id="keys-rotate"),
    pytest.param(("gc", "--dry-run"), None, id="gc-dry-run"),
    pytest.param(("gc",), None, id="gc"),
]


def one_line_error(done: subprocess.CompletedProcess[str]) -> str:
    """The single error line of a refused command (exit 1, nothing on stdout, no trace)."""
    assert done.returncode == 1, done
    assert done.stdout == ""
    assert "Traceback" not in done.stderr
    [*_, error] = done.stderr.splitlines()
    assert error.startswith("tinyreg: ")
    return error


@pytest.mark.parametrize(("args", "stdin"), COMMANDS)
def test_a_missing_data_directory_is_an_error_naming_its_absolute_path_and_is_not_created(
    tmp_path: Path, args: tuple[str, ...], stdin: str | None
) -> None:
    command = tinyreg_command(*args, "--data", "typo")
    done = subprocess.run(command, input=stdin, cwd=tmp_path, env=clean_env(), capture_output=True, text=True, timeout=60)
    error = one_line_error(done)
    assert f"no data directory at {tmp_path / 'typo'}:" in error
    assert all(hint in error for hint in ("--data", "tinyreg serve", "--init"))
    assert not (tmp_path / "typo").exists()


@pytest.mark.parametrize(("args", "stdin"), COMMANDS)
def test_a_directory_that_is_not_a_data_directory_is_refused(tmp_path: Path, args: tuple[str, ...], stdin: str | None) -> None:
    (tmp_path / "photos").mkdir()
    error = one_line_error(tinyreg_admin(tmp_path / "photos", *args, stdin=stdin))
    assert f"{tmp_path / 'photos'} is not a tinyreg data directory" in error
    assert list((tmp_path / "photos").iterdir()) == []


def test_init_creates_the_data_directory_and_says_so_on_stderr_keeping_json_clean(tmp_path: Path) -> None:
    done = tinyreg_admin(
        tmp_path / "new", "user", "add", "root", "--admin", "--password-stdin", "--init", "--json", stdin=PASSWORD
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"name": "root", "id": 1, "admin": True}
    assert done.stderr == f"tinyreg: new data directory {tmp_path / 'new'}\n"
    listed = tinyreg_admin(tmp_path / "new", "user", "list", "--json")
    assert [u["name"] for u in json.loads(listed.stdout)] == ["root"]
    assert listed.stderr == f"tinyreg: data directory {tmp_path / 'new'}\n"


def test_the_data_directory_is_printed_absolute_when_given_relative(tmp_path: Path) -> None:
    admin_ok(tmp_path / "data", "user", "add", "root", "--password-stdin", "--init", stdin=PASSWORD)
    command = tinyreg_command("project", "list", "--data", "data")
    done = subprocess.run(command, cwd=tmp_path, env=clean_env(), capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stderr == f"tinyreg: data directory {tmp_path / 'data'}\n"


@pytest.mark.parametrize("how", ["--config", "TINYREG_CONFIG"])
def test_a_config_file_names_the_data_directory_of_every_command(tmp_path: Path, how: str) -> None:
    config = tmp_path / "tinyreg.toml"
    config.write_text(f'data = "{tmp_path / "from-config"}"\nport = 5999\n')
    args, env = (["--config", str(config)], clean_env()) if how == "--config" else ([], clean_env(TINYREG_CONFIG=str(config)))

    def run(*command: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            tinyreg_command(*command, *args), input=stdin, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, done.stderr
        return done

    run("user", "add", "root", "--password-stdin", "--init", stdin=PASSWORD)
    assert run("user", "list").stdout.splitlines()[1].split()[:2] == ["1", "root"]
    assert "would remove 0 unused links" in run("gc", "--dry-run").stdout
    assert not (tmp_path / "tinyreg-data").exists()


@pytest.mark.parametrize(
    "setup",
    [
        pytest.param("under-a-file", id="under-a-file"),
        pytest.param("meta-is-a-file", id="meta-is-a-file"),
    ],
)
def test_an_unusable_data_directory_is_a_one_line_error(tmp_path: Path, setup: str) -> None:
    # Permissions cannot show this when the tests run as root; a file in the way always does.
    if setup == "under-a-file":
        (tmp_path / "file").write_text("")
        data = tmp_path / "file" / "data"
    else:
        data = tmp_path / "data"
        data.mkdir()
        (data / "meta").write_text("")
    error = one_line_error(tinyreg_admin(data, "user", "add", "root", "--password-stdin", "--init", stdin=PASSWORD))
    assert str(data) in error
    assert error.startswith(("tinyreg: cannot create data directory", "tinyreg: cannot open data directory"))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("user", "list"), "no users"),
        (("project", "list"), "no projects"),
        (("token", "list"), "no personal access tokens"),
        (("token", "list", "root"), "no personal access tokens of root"),
        (("deploy-token", "list"), "no deploy tokens"),
    ],
)
def test_empty_lists_say_so(tmp_path: Path, args: tuple[str, ...], message: str) -> None:
    data = tmp_path / "data"
    tinyreg_admin(data, "keys", "rotate", "--init")
    if args[0] != "user":
        admin_ok(data, "user", "add", "root", "--password-stdin", stdin=PASSWORD)
    done = tinyreg_admin(data, *args)
    assert (done.returncode, done.stdout) == (0, message + "\n"), done.stderr
    assert admin_ok(data, *args) == []


def test_a_project_without_members_says_so(tmp_path: Path) -> None:
    admin_ok(tmp_path / "data", "project", "create", "team/app", "--init")
    assert tinyreg_admin(tmp_path / "data", "project", "member", "list", "team/app").stdout == "no members in team/app\n"


@pytest.mark.parametrize("grace", ["3600", "90s", "15m", "6h", "30d", "1w"])
def test_gc_grace_takes_every_duration_form(tmp_path: Path, grace: str) -> None:
    report = admin_ok(tmp_path / "data", "gc", "--dry-run", "--grace", grace, "--init")
    assert report == {"blobs": [], "bytes_freed": 0, "manifests": [], "links": 0}


@pytest.mark.parametrize(
    "args",
    [("gc", "--grace", "soon"), ("token", "create", "x", "--name", "n", "--scopes", "read_registry", "--expires-in", "1 day")],
)
def test_a_wrong_duration_is_a_usage_error_saying_what_is_accepted(tmp_path: Path, args: tuple[str, ...]) -> None:
    done = tinyreg_admin(tmp_path / "data", *args)
    assert done.returncode == 2
    assert "90s, 15m, 12h, 30d" in done.stderr

"""/healthz, /readyz, request ids on every response, and the JSON log format."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import httpx
import pytest
from tinyreg.config import ConfigError, load_settings
from tinyreg.http.request_ids import request_id
from tinyreg.testing import RunningRegistry

from tests.processes import ServerProcess, clean_env


def test_healthz_and_readyz_answer_when_all_is_well(tinyreg: RunningRegistry) -> None:
    assert httpx.get(tinyreg.url + "/healthz").json()["status"] == "ok"
    ready = httpx.get(tinyreg.url + "/readyz")
    assert (ready.status_code, ready.json()) == (200, {"status": "ready"})
    assert ready.headers["Cache-Control"] == "no-store"
    assert httpx.post(tinyreg.url + "/readyz").status_code == 405


@pytest.mark.tinyreg(min_free_disk_mib=10**12)
def test_readyz_is_503_with_the_reason_when_too_little_space_is_free(tinyreg: RunningRegistry) -> None:
    answer = httpx.get(tinyreg.url + "/readyz")
    assert answer.status_code == 503
    assert answer.json()["status"] == "not ready"
    assert re.fullmatch(r"\d+ MiB free for blobs, below the 1000000000000 MiB required", answer.json()["reasons"][0])


def test_readyz_is_503_while_blobs_cannot_be_written_and_200_again_after(tinyreg: RunningRegistry) -> None:
    blobs = tinyreg.data_dir / "blobs"
    shutil.move(blobs, tinyreg.data_dir / "blobs-away")
    blobs.write_bytes(b"")  # a file where the directory should be: nothing can be created in it
    try:
        answer = httpx.get(tinyreg.url + "/readyz")
        assert answer.status_code == 503
        assert [reason.split(":")[0] for reason in answer.json()["reasons"]] == ["blob storage not writable"]
    finally:
        blobs.unlink()
        shutil.move(tinyreg.data_dir / "blobs-away", blobs)
    assert httpx.get(tinyreg.url + "/readyz").status_code == 200


@pytest.mark.parametrize("path", ["/v2/", "/v2/nothing/here/manifests/latest", "/healthz", "/readyz", "/no-such-page"])
def test_every_response_carries_a_request_id_and_a_sane_one_is_kept(tinyreg: RunningRegistry, path: str) -> None:
    made = [httpx.get(tinyreg.url + path).headers["X-Request-Id"] for _ in range(2)]
    assert all(re.fullmatch(r"[0-9a-f]{16}", rid) for rid in made) and made[0] != made[1]
    assert httpx.get(tinyreg.url + path, headers={"X-Request-Id": "lb-7f3a:42"}).headers["X-Request-Id"] == "lb-7f3a:42"
    replaced = httpx.get(tinyreg.url + path, headers={"X-Request-Id": "two words"}).headers["X-Request-Id"]
    assert re.fullmatch(r"[0-9a-f]{16}", replaced)


@pytest.mark.parametrize(
    ("headers", "kept"),
    [
        ([(b"x-request-id", b"abc-123")], "abc-123"),
        ([(b"host", b"x"), (b"x-request-id", b"Root=1-5759e988;Parent=53995c3f")], None),  # ';' is refused
        ([(b"x-request-id", b"a" * 128)], "a" * 128),
        ([(b"x-request-id", b"a" * 129)], None),
        ([(b"x-request-id", b"")], None),
        ([(b"x-request-id", "é".encode())], None),
        ([], None),
    ],
)
def test_which_incoming_request_ids_are_kept(headers: list[tuple[bytes, bytes]], kept: str | None) -> None:
    rid = request_id(headers)
    if kept is None:
        assert re.fullmatch(r"[0-9a-f]{16}", rid)
    else:
        assert rid == kept


def json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_json_logs_are_one_object_per_line_with_the_access_fields(tmp_path: Path) -> None:
    args = ["serve", "--port", "0", "--data", str(tmp_path / "data"), "--log-format", "json"]
    with ServerProcess(args, cwd=tmp_path, env=clean_env()) as server:
        url = server.wait_listening()
        httpx.get(url + "/v2/missing/manifests/v1", headers={"X-Request-Id": "probe-1"})
        server.wait_for(re.compile('"request_id": "probe-1"'), "stderr")
        assert server.stop() == 0
    entries = json_lines(server.text("stderr"))  # every line parses
    access = next(entry for entry in entries if entry.get("request_id") == "probe-1")
    assert access["logger"] == "tinyreg.access" and access["level"] == "info"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", access["time"])
    assert (access["method"], access["path"], access["status"], access["client"]) == (
        "GET",
        "/v2/missing/manifests/v1",
        404,
        "127.0.0.1",
    )
    assert access["bytes"] > 0 and access["duration_ms"] >= 0
    assert "probe-1" in access["message"]
    assert any(entry["message"] == "SIGTERM received, stopping" for entry in entries)


def test_log_format_is_a_setting(tmp_path: Path) -> None:
    assert load_settings({}, env={}).log_format == "text"
    assert load_settings({}, env={"TINYREG_LOG_FORMAT": "json"}).log_format == "json"
    with pytest.raises(ConfigError, match="log_format must be text or json"):
        load_settings({"log_format": "xml"}, env={})
    with pytest.raises(ConfigError, match="min_free_disk_mib cannot be negative"):
        load_settings({"min_free_disk_mib": -1}, env={})

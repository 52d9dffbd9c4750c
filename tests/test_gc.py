"""Garbage collection: what nothing refers to goes, everything still reachable stays."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
from tinyreg.registry.gc import collect
from tinyreg.storage.blobs import FileBlobStore
from tinyreg.testing import RunningRegistry, run_registry


def _age_files(root: Path, seconds: float) -> None:
    """Make every blob file look `seconds` old, as if pushed long ago."""
    past = time.time() - seconds
    for folder, _, names in os.walk(root / "blobs"):
        for name in names:
            os.utime(Path(folder) / name, (past, past))


def _layers(registry: RunningRegistry, repo: str, reference: str) -> list[str]:
    manifest = httpx.get(f"{registry.url}/v2/{repo}/manifests/{reference}").json()
    return [manifest["config"]["digest"], *(layer["digest"] for layer in manifest["layers"])]


def _collect(registry: RunningRegistry, **options: object):  # type: ignore[no-untyped-def]
    return collect(registry._registry.meta, FileBlobStore(registry.data_dir), **options)  # type: ignore[arg-type]


def test_blobs_of_a_deleted_image_are_collected_and_those_still_used_are_kept(tmp_path: Path) -> None:
    with run_registry(tmp_path / "data") as registry:
        kept = registry.push_image("team/kept", "v1")
        gone = registry.push_image("team/gone", "v1", layers=2)
        kept_blobs, gone_blobs = _layers(registry, "team/kept", kept), _layers(registry, "team/gone", gone)
        assert httpx.delete(f"{registry.url}/v2/team/gone/manifests/{gone}").status_code == 202
        _age_files(registry.data_dir, 7200)

        report = _collect(registry, grace=0)

        assert sorted(report.blobs) == sorted(gone_blobs)
        assert report.links == len(gone_blobs)
        assert gone in report.manifests
        for digest in kept_blobs:
            assert httpx.get(f"{registry.url}/v2/team/kept/blobs/{digest}").status_code == 200
        for digest in gone_blobs:
            assert httpx.head(f"{registry.url}/v2/team/gone/blobs/{digest}").status_code == 404
        assert not list((registry.data_dir / "trash").iterdir())
        # The same image can be pushed again afterwards.
        assert registry.push_image("team/gone", "v1", layers=2) == gone
        assert all(httpx.head(f"{registry.url}/v2/team/gone/blobs/{d}").status_code == 200 for d in gone_blobs)


def test_recent_uploads_and_a_dry_run_are_left_alone(tmp_path: Path) -> None:
    with run_registry(tmp_path / "data") as registry:
        loose = registry.push_blob("team/app", b"layer uploaded before its manifest")
        assert _collect(registry, grace=3600).blobs == []  # young link, young file: a push in progress
        _age_files(registry.data_dir, 7200)
        dry = _collect(registry, grace=0, dry_run=True)
        assert dry.blobs == [loose] and dry.bytes_freed == len(b"layer uploaded before its manifest")
        assert httpx.get(f"{registry.url}/v2/team/app/blobs/{loose}").status_code == 200


def test_gc_command_reports_in_json(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with run_registry(data) as registry:
        digest = registry.push_image("team/app", "v1")
        httpx.delete(f"{registry.url}/v2/team/app/manifests/{digest}")
    _age_files(data, 7200)
    result = subprocess.run(
        [sys.executable, "-m", "tinyreg", "gc", "--data", str(data), "--grace", "0", "--json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert len(report["blobs"]) == 2 and report["manifests"] == [digest] and report["bytes_freed"] > 0

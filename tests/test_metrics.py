"""/metrics: counters equal what was done, per route, per project and across workers; who may read it."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from tinyreg.config import ConfigError, load_settings
from tinyreg.http.asgi import Request
from tinyreg.http.metrics import is_failed_login, repository_action, route_of
from tinyreg.http.metrics_export import check_scraper
from tinyreg.registry.errors import RegistryError
from tinyreg.testing import RunningRegistry

from tests.auth_helpers import AuthWorld, basic_auth, bearer_auth
from tests.helpers import api_client, push_blob, start_upload
from tests.manifest_builders import OCI_MANIFEST, image_manifest, push_image, push_manifest
from tests.processes import ServerProcess, clean_env, tinyreg_command, wait_until

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(url: str, headers: dict[str, str] | None = None) -> Samples:
    """Every sample of `GET /metrics`, by (sample name, labels)."""
    response = httpx.get(url + "/metrics", headers=headers or {})
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("text/plain; version=")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def push_and_pull(url: str) -> dict[str, Any]:
    """A known sequence: two images pushed, three pulls and a HEAD, one delete, one upload left open."""
    with api_client(url) as client:
        pushed = {}
        for repo in ("group/app", "group/app/api"):
            document = image_manifest(client, repo, seed=repo)
            pushed[repo] = push_manifest(client, repo, "v1", document, OCI_MANIFEST)
        for _ in range(3):
            assert client.get("/v2/group/app/manifests/v1", headers={"Accept": OCI_MANIFEST}).status_code == 200
        assert client.head("/v2/group/app/manifests/v1", headers={"Accept": OCI_MANIFEST}).status_code == 200
        assert client.delete(f"/v2/group/app/api/manifests/{pushed['group/app/api'].digest}").status_code == 202
        assert client.get("/v2/group/app/manifests/nope").status_code == 404
        start_upload(client, "group/app")
    return pushed


def test_counters_equal_a_known_sequence_of_pushes_and_pulls(tinyreg: RunningRegistry) -> None:
    pushed = push_and_pull(tinyreg.url)
    samples = scrape(tinyreg.url)

    requests = "tinyreg_http_requests_total"
    assert value(samples, requests, route="manifests", method="PUT", status="201") == 2
    assert value(samples, requests, route="manifests", method="GET", status="200") == 3
    assert value(samples, requests, route="manifests", method="HEAD", status="200") == 1
    assert value(samples, requests, route="manifests", method="DELETE", status="202") == 1
    assert value(samples, requests, route="manifests", method="GET", status="404") == 1
    assert value(samples, requests, route="uploads", method="POST", status="201") == 4  # config + layer, twice
    assert value(samples, requests, route="uploads", method="POST", status="202") == 1
    duration = "tinyreg_http_request_duration_seconds"
    assert value(samples, f"{duration}_count", route="manifests", method="GET") == 4
    assert value(samples, f"{duration}_bucket", route="manifests", method="GET", le="+Inf") == 4
    assert value(samples, f"{duration}_sum", route="manifests", method="GET") > 0

    manifest_bytes = sum(len(p.body) for p in pushed.values())
    assert value(samples, "tinyreg_http_received_bytes_total", route="manifests") == manifest_bytes
    assert value(samples, "tinyreg_http_sent_bytes_total", route="manifests") >= 3 * len(pushed["group/app"].body)

    # No projects in an open registry: each repository counts as its own.
    assert value(samples, "tinyreg_pushes_total", project="group/app") == 1
    assert value(samples, "tinyreg_pushes_total", project="group/app/api") == 1
    assert value(samples, "tinyreg_pulls_total", project="group/app") == 3
    assert value(samples, "tinyreg_deletes_total", project="group/app/api") == 1
    assert value(samples, "tinyreg_uploads_in_progress") == 1
    assert value(samples, "tinyreg_failed_logins_total") == 0
    assert value(samples, "tinyreg_workers") == 1


def test_blob_bytes_received_are_counted(tinyreg: RunningRegistry) -> None:
    with api_client(tinyreg.url) as client:
        push_blob(client, "group/app", b"x" * 70_000)
    assert value(scrape(tinyreg.url), "tinyreg_http_received_bytes_total", route="uploads") == 70_000


@pytest.mark.tinyreg(auth=True)
def test_actions_are_counted_per_project_and_failed_logins_counted(tinyreg: RunningRegistry) -> None:
    world = AuthWorld.build(tinyreg)
    with world.client(world.login("root")) as client:
        for repo in ("team/app", "team/app/api", "team/app/api"):
            assert client.get(f"/v2/{repo}/manifests/v1", headers={"Accept": OCI_MANIFEST}).status_code == 200
    assert httpx.get(tinyreg.url + "/v2/", headers=basic_auth("root", "wrong")).status_code == 401  # failed
    assert httpx.get(tinyreg.url + "/token", headers=basic_auth("nobody", "wrong")).status_code == 401  # failed
    refused_grant = {"grant_type": "password", "username": "alice", "password": "wrong", "service": "tinyreg"}
    assert httpx.post(tinyreg.url + "/token", data=refused_grant).status_code == 401  # failed
    assert httpx.get(tinyreg.url + "/v2/").status_code == 401  # no credentials: the start of a login
    assert httpx.get(tinyreg.url + "/v2/", headers=bearer_auth("expired.or.bogus")).status_code == 401  # no login

    samples = scrape(tinyreg.url)
    assert value(samples, "tinyreg_pulls_total", project="team/app") == 3
    assert value(samples, "tinyreg_failed_logins_total") == 3


def test_counts_cover_every_worker(tmp_path: Path) -> None:
    args = ["serve", "--port", "0", "--data", str(tmp_path / "data"), "--workers", "2"]
    with ServerProcess(args, cwd=tmp_path, env=clean_env()) as server:
        url = server.wait_listening()
        push_and_pull(url)
        for _ in range(20):  # each on a new connection: the kernel hands them to either worker
            assert httpx.get(url + "/v2/").status_code == 200

        def all_counted() -> bool:
            samples = scrape(url)
            return (
                value(samples, "tinyreg_http_requests_total", route="base", method="GET", status="200") == 20
                and value(samples, "tinyreg_pulls_total", project="group/app") == 3
                and value(samples, "tinyreg_pushes_total", project="group/app/api") == 1
            )

        wait_until(all_counted, "counting the requests of both workers")
        assert value(scrape(url), "tinyreg_workers") == 2
        assert server.stop() == 0


@pytest.mark.tinyreg(metrics="token:s3cret-value")
def test_a_token_protected_endpoint_wants_its_bearer_token(tinyreg: RunningRegistry) -> None:
    assert httpx.get(tinyreg.url + "/metrics").status_code == 401
    assert httpx.get(tinyreg.url + "/metrics", headers=bearer_auth("wrong")).status_code == 401
    assert value(scrape(tinyreg.url, bearer_auth("s3cret-value")), "tinyreg_workers") == 1


@pytest.mark.tinyreg(auth=True, metrics="admin")
def test_an_admin_only_endpoint_wants_an_admins_credentials(tinyreg: RunningRegistry) -> None:
    world = AuthWorld.build(tinyreg)
    assert httpx.get(tinyreg.url + "/metrics").status_code == 401
    assert httpx.get(tinyreg.url + "/metrics", headers=world.login("alice")).status_code == 401
    assert value(scrape(tinyreg.url, world.login("root")), "tinyreg_workers") == 1


@pytest.mark.tinyreg(metrics="off")
def test_metrics_off_means_no_endpoint(tinyreg: RunningRegistry) -> None:
    assert httpx.get(tinyreg.url + "/metrics").status_code == 404
    assert httpx.get(tinyreg.url + "/readyz").status_code == 200


def scope_from(client: str) -> dict[str, Any]:
    return {"type": "http", "method": "GET", "path": "/metrics", "headers": [], "client": (client, 40000)}


@pytest.mark.parametrize(
    ("mode", "client", "allowed"),
    [
        ("loopback", "127.0.0.1", True),
        ("loopback", "::1", True),
        ("loopback", "::ffff:127.0.0.1", True),
        ("loopback", "10.0.0.8", False),
        ("loopback", "192.0.2.1", False),
        ("open", "192.0.2.1", True),
        ("off", "127.0.0.1", False),
        ("token:x", "127.0.0.1", False),
        ("admin", "127.0.0.1", False),
    ],
)
async def test_who_may_scrape_without_credentials(mode: str, client: str, allowed: bool) -> None:
    request = Request(scope_from(client), receive=None)  # type: ignore[arg-type]  # no body is read
    if allowed:
        await check_scraper(mode, request, None)
    else:
        with pytest.raises(RegistryError):
            await check_scraper(mode, request, None)


@pytest.mark.parametrize(
    ("path", "route"),
    [
        ("/v2/", "base"),
        ("/v2/_catalog", "catalog"),
        ("/v2/a/b/manifests/v1", "manifests"),
        ("/v2/a/blobs/sha256:00", "blobs"),
        ("/v2/a/blobs/uploads/", "uploads"),
        ("/v2/a/blobs/uploads/abc", "uploads"),
        ("/v2/a/tags/list", "tags"),
        ("/v2/nothing", "unknown"),
        ("/token", "token"),
        ("/readyz", "readyz"),
        ("/metrics", "metrics"),
        ("/-/projects/a", "web"),
    ],
)
def test_routes_are_counted_by_resource_not_path(path: str, route: str) -> None:
    assert route_of(path) == route


@pytest.mark.parametrize(
    ("method", "status", "action"),
    [
        ("PUT", 201, "push"),
        ("GET", 200, "pull"),
        ("HEAD", 200, None),
        ("DELETE", 202, "delete"),
        ("PUT", 400, None),
        ("GET", 404, None),
    ],
)
def test_which_manifest_requests_are_pushes_pulls_and_deletes(method: str, status: int, action: str | None) -> None:
    assert repository_action(method, status) == action


@pytest.mark.parametrize(
    ("route", "method", "status", "authorization", "failed"),
    [
        ("base", "GET", 401, "Basic YTpi", True),
        ("manifests", "GET", 401, "basic YTpi", True),
        ("base", "GET", 401, None, False),
        ("base", "GET", 401, "Bearer abc", False),
        ("token", "GET", 401, "Basic YTpi", True),
        ("token", "GET", 401, None, False),
        ("token", "POST", 401, None, True),
        ("token", "GET", 200, "Basic YTpi", False),
        ("base", "GET", 429, "Basic YTpi", False),
    ],
)
def test_which_answers_are_failed_logins(route: str, method: str, status: int, authorization: str | None, failed: bool) -> None:
    assert is_failed_login(route, method, status, authorization) is failed


def test_metrics_setting(tmp_path: Path) -> None:
    assert load_settings({}, env={}).metrics == "loopback"
    assert load_settings({}, env={"TINYREG_METRICS": "token:abc"}).metrics == "token:abc"
    for wrong, message in (("public", "metrics must be open, loopback"), ("token:", "needs a secret"), ("admin", "needs --auth")):
        with pytest.raises(ConfigError, match=message):
            load_settings({"metrics": wrong}, env={})


def test_storage_and_housekeeping_runs_are_reported(tmp_path: Path) -> None:
    """Per-project and total storage follow pushes; cleanup and GC runs count what they removed."""
    data = tmp_path / "data"
    created = subprocess.run(
        tinyreg_command("project", "create", "team/app", "--init", "--data", str(data)),
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert created.returncode == 0, created.stderr
    args = ["serve", "--port", "0", "--data", str(data), "--cleanup-interval", "0.1", "--gc-interval", "0.2", "--gc-grace", "2s"]
    with ServerProcess(args, cwd=tmp_path, env=clean_env(TINYREG_CLEANUP_CADENCE_SECONDS="1")) as server:
        url = server.wait_listening()
        with api_client(url) as client:
            pushed = [push_image(client, "team/app/web", f"build-{n}", seed=f"stored-{n}") for n in range(3)]
            documents = [json.loads(p.body) for p in pushed]
            blobs = [[item["size"] for item in (d["config"], *d["layers"])] for d in documents]
        samples = scrape(url)
        every_byte = sum(map(sum, blobs)) + sum(len(p.body) for p in pushed)
        assert value(samples, "tinyreg_project_storage_bytes", project="team/app") == every_byte
        assert value(samples, "tinyreg_storage_bytes") == every_byte
        assert value(samples, "tinyreg_gc_bytes_freed_total") == 0

        policy = ["cleanup-policy", "set", "team/app", "--enabled", "--keep-n", "1", "--older-than", "none"]
        done = subprocess.run(tinyreg_command(*policy, "--data", str(data)), env=clean_env(), capture_output=True, timeout=60)
        assert done.returncode == 0, done.stderr
        # The two oldest images go (their blobs are shared with nothing); a grace keeps blobs of pushes in flight.
        freed = sum(map(sum, blobs[:2]))

        def collected() -> bool:
            samples = scrape(url)
            return value(samples, "tinyreg_gc_bytes_freed_total") == freed

        wait_until(collected, "cleanup and garbage collection of the two oldest images")
        samples = scrape(url)
        assert value(samples, "tinyreg_cleanup_tags_removed_total") == 2
        assert value(samples, "tinyreg_cleanup_manifests_removed_total") == 2
        assert value(samples, "tinyreg_cleanup_runs_total") >= 1
        assert value(samples, "tinyreg_gc_runs_total") >= 1
        assert value(samples, "tinyreg_gc_blobs_removed_total") == 4
        kept = sum(blobs[2]) + len(pushed[2].body)
        assert value(samples, "tinyreg_project_storage_bytes", project="team/app") == kept
        assert server.stop() == 0

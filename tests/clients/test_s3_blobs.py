"""`tinyreg serve --blobs s3://...` against a Ceph RADOS Gateway: skopeo pushes and pulls, chunked
uploads in patches smaller than S3's 5 MiB parts, and a refused digest that leaves nothing behind.

The registry runs as a subprocess reaching the gateway through the standard AWS variables; blob
GETs follow its 307 to a presigned URL, or are streamed with `--blobs-redirect off`.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import cast

import httpx
import pytest
from tinyreg.registry.core import Registry
from tinyreg.testing import RunningRegistry

from tests.processes import ServerProcess, clean_env, tinyreg_command
from tests.servers.ceph import CephGateway

from .tools import Layout, Sandbox, Tool, push_args, random_files, umoci_image

pytestmark = pytest.mark.clients

MiB = 1024 * 1024
BUCKET = "tinyreg-serve"


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@pytest.fixture
def s3_prefix() -> str:
    return uuid.uuid4().hex


@pytest.fixture
def blobs_redirect() -> str:
    return "on"


@pytest.fixture
def tinyreg(ceph_rgw: CephGateway, s3_prefix: str, blobs_redirect: str, tmp_path: Path) -> Iterator[RunningRegistry]:
    """`tinyreg serve` with its blobs in the session's gateway, under a fresh prefix."""
    env = clean_env(**ceph_rgw.aws_env())
    data = tmp_path / "data"
    args = [
        "serve",
        "--port",
        "0",
        "--data",
        str(data),
        "--blobs",
        f"s3://{BUCKET}/{s3_prefix}",
        "--blobs-redirect",
        blobs_redirect,
    ]
    with ServerProcess(args, cwd=tmp_path, env=env) as server:
        url = server.wait_listening(timeout=60)
        # The sandbox and tools only need the address; there is no in-process registry behind it.
        yield RunningRegistry(url=url, host=url.split("://", 1)[1], data_dir=data, _registry=cast(Registry, None))


@pytest.mark.parametrize("blobs_redirect", ["on", "off"])
def test_skopeo_pushes_and_pulls_byte_for_byte_with_blobs_in_s3(
    tinyreg: RunningRegistry,
    skopeo: Tool,
    umoci: Tool,
    sandbox: Sandbox,
    ceph_rgw: CephGateway,
    s3_prefix: str,
    blobs_redirect: str,
) -> None:
    big = {"big.bin": os.urandom(7 * MiB)}  # random: its gzip layer is still > 5 MiB, several S3 parts
    image = umoci_image(umoci, sandbox.layout, "v1", [big, random_files("small")])
    skopeo(*push_args(sandbox, "v1", "group/project:v1"))
    fresh = sandbox.work / "fresh"

    skopeo("copy", "--preserve-digests", "--src-tls-verify=false", sandbox.docker("group/project:v1"), f"oci:{fresh}:copy")

    copied = Layout(fresh).image("copy")
    assert (copied.digest, copied.manifest, copied.config, copied.layers) == (
        image.digest,
        image.manifest,
        image.config,
        image.layers,
    )
    stored = ceph_rgw.keys(BUCKET, f"{s3_prefix}/blobs/")
    expected = {image.document["config"]["digest"]: len(image.config)} | {
        digest: len(data) for digest, data in zip(image.layer_digests, image.layers, strict=True)
    }
    assert {f"{key.split('/')[-3]}:{key.split('/')[-1]}": size for key, size in stored.items()} == expected
    assert ceph_rgw.keys(BUCKET, f"{s3_prefix}/staging/") == {}

    layer, data = image.layer_digests[0], image.layers[0]
    blob_url = f"{tinyreg.url}/v2/group/project/blobs/{layer}"
    head = httpx.head(blob_url, timeout=60)
    assert head.status_code == 200 and head.headers["Content-Length"] == str(len(data))
    answer = httpx.get(blob_url, timeout=60)
    if blobs_redirect == "on":
        assert answer.status_code == 307 and answer.headers["Location"].startswith(ceph_rgw.endpoint + "/")
        ranged = httpx.get(answer.headers["Location"], headers={"Range": "bytes=5-14"}, timeout=60)
        assert ranged.status_code == 206 and ranged.content == data[5:15]
    else:
        assert answer.status_code == 200 and answer.content == data
        # A range across chunk boundaries, read ahead of the client from its offset.
        ranged = httpx.get(blob_url, headers={"Range": f"bytes={MiB - 5}-{3 * MiB + 6}"}, timeout=60)
        assert ranged.status_code == 206 and ranged.content == data[MiB - 5 : 3 * MiB + 7]


def upload_in_patches(client: httpx.Client, name: str, data: bytes, patch: int) -> str:
    """POST, then PATCHes of `patch` bytes (checking the Range each answers); the Location to PUT to."""
    started = client.post(f"/v2/{name}/blobs/uploads/")
    assert started.status_code == 202, started.text
    location = started.headers["Location"]
    for offset in range(0, len(data), patch):
        chunk = data[offset : offset + patch]
        headers = {"Content-Range": f"{offset}-{offset + len(chunk) - 1}", "Content-Type": "application/octet-stream"}
        answer = client.patch(location, content=chunk, headers=headers)
        assert answer.status_code == 202, answer.text
        assert answer.headers["Range"] == f"0-{offset + len(chunk) - 1}"
        location = answer.headers["Location"]
    return location


def test_a_chunked_upload_of_patches_under_5_mib_becomes_one_blob_in_s3(
    tinyreg: RunningRegistry, ceph_rgw: CephGateway, s3_prefix: str
) -> None:
    data = os.urandom(13 * MiB + 123)
    digest = sha256(data)
    with httpx.Client(base_url=tinyreg.url, timeout=120, follow_redirects=True) as client:
        assert client.get("/readyz").json() == {"status": "ready"}  # a probe object written and removed
        location = upload_in_patches(client, "chunked/image", data, 2 * MiB + 1)
        finished = client.put(location, params={"digest": digest})
        assert finished.status_code == 201, finished.text
        assert client.get(f"/v2/chunked/image/blobs/{digest}").content == data
        ranged = client.get(f"/v2/chunked/image/blobs/{digest}", headers={"Range": f"bytes={5 * MiB - 3}-{5 * MiB + 2}"})
        assert ranged.content == data[5 * MiB - 3 : 5 * MiB + 3]
    hex_ = digest.split(":")[1]
    assert ceph_rgw.keys(BUCKET, f"{s3_prefix}/blobs/") == {f"{s3_prefix}/blobs/sha256/{hex_[:2]}/{hex_}": len(data)}
    assert ceph_rgw.keys(BUCKET, f"{s3_prefix}/staging/") == {}


def test_a_digest_mismatch_at_put_is_refused_and_leaves_nothing_visible(
    tinyreg: RunningRegistry, ceph_rgw: CephGateway, s3_prefix: str
) -> None:
    data = os.urandom(6 * MiB)
    claimed, actual = sha256(b"something else"), sha256(data)
    with httpx.Client(base_url=tinyreg.url, timeout=120, follow_redirects=True) as client:
        location = upload_in_patches(client, "refused/image", data, 3 * MiB)
        refused = client.put(location, params={"digest": claimed})
        assert refused.status_code == 400 and refused.json()["errors"][0]["code"] == "DIGEST_INVALID"
        for digest in (claimed, actual):
            assert client.head(f"/v2/refused/image/blobs/{digest}").status_code == 404
        assert client.get(location).status_code == 404  # the session is over
    assert ceph_rgw.keys(BUCKET, f"{s3_prefix}/") == {}


def test_tinyreg_gc_removes_an_unreferenced_blob_from_s3(
    tinyreg: RunningRegistry, ceph_rgw: CephGateway, s3_prefix: str, tmp_path: Path
) -> None:
    data = os.urandom(1000)
    digest = sha256(data)
    pushed = httpx.post(f"{tinyreg.url}/v2/loose/image/blobs/uploads/", params={"digest": digest}, content=data, timeout=60)
    assert pushed.status_code == 201, pushed.text
    assert len(ceph_rgw.keys(BUCKET, f"{s3_prefix}/blobs/")) == 1
    env = clean_env(**ceph_rgw.aws_env(), TINYREG_BLOBS=f"s3://{BUCKET}/{s3_prefix}")
    collected = subprocess.run(
        [*tinyreg_command("gc", "--data", str(tinyreg.data_dir), "--grace", "0", "--json")],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert collected.returncode == 0, collected.stderr
    assert json.loads(collected.stdout)["blobs"] == [digest]
    assert ceph_rgw.keys(BUCKET, f"{s3_prefix}/") == {}  # nothing aside, no lease left
    assert httpx.head(f"{tinyreg.url}/v2/loose/image/blobs/{digest}", timeout=60).status_code == 404


def test_small_blobs_sent_whole_are_verified_and_written_to_their_key_without_staging(
    tinyreg: RunningRegistry, ceph_rgw: CephGateway, s3_prefix: str
) -> None:
    """A monolithic POST, or the PUT of a session without bytes, of up to 4 MiB goes straight to
    the blob's key once its digest matches; a mismatch stores nothing and ends the session; a
    session that has bytes, and a larger body, still go through the staging."""
    one, two, rest, large = os.urandom(1000), os.urandom(2 * MiB), os.urandom(300), os.urandom(4 * MiB + 1)
    with httpx.Client(base_url=tinyreg.url, timeout=120, follow_redirects=True) as client:
        uploads = "/v2/whole/image/blobs/uploads/"
        assert client.post(uploads, params={"digest": sha256(one)}, content=one).status_code == 201
        started = client.post(uploads)
        assert client.put(started.headers["Location"], params={"digest": sha256(two)}, content=two).status_code == 201

        wrong = client.post(uploads)
        refused = client.put(wrong.headers["Location"], params={"digest": sha256(b"else")}, content=rest)
        assert refused.status_code == 400 and refused.json()["errors"][0]["code"] == "DIGEST_INVALID"
        assert client.get(wrong.headers["Location"]).status_code == 404  # the session is over
        refused = client.post(uploads, params={"digest": sha256(b"else")}, content=rest)
        assert refused.status_code == 400 and refused.json()["errors"][0]["code"] == "DIGEST_INVALID"

        location = upload_in_patches(client, "whole/image", one[:10], 10)
        assert client.put(location, params={"digest": sha256(one[:10] + rest)}, content=rest).status_code == 201
        assert client.post(uploads, params={"digest": sha256(large)}, content=large).status_code == 201

        for data in (one, two, one[:10] + rest, large):
            assert client.get(f"/v2/whole/image/blobs/{sha256(data)}").content == data
        for digest in (sha256(b"else"), sha256(rest)):
            assert client.head(f"/v2/whole/image/blobs/{digest}").status_code == 404
    stored = ceph_rgw.keys(BUCKET, f"{s3_prefix}/blobs/")
    assert sorted(key.rsplit("/", 1)[1] for key in stored) == sorted(
        sha256(data).split(":")[1] for data in (one, two, one[:10] + rest, large)
    )
    assert ceph_rgw.keys(BUCKET, f"{s3_prefix}/staging/") == {}

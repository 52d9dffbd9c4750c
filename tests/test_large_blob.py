"""A 512 MiB blob through a `tinyreg serve` process, pushed in 16 MiB PATCHes or as one streamed POST and
downloaded as a stream, while the server's resident memory stays bounded. Neither side holds the blob."""

from __future__ import annotations

import hashlib
import shutil
import signal
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.processes import MiB, ServerProcess, clean_env, memory_kib, random_chunks

pytestmark = pytest.mark.slow

SIZE = 512 * MiB
CHUNK = 16 * MiB
PEAK_LIMIT = 150 * MiB
REPO = "large/blob"


class MemorySampler:
    """Samples VmRSS of a process in a thread; `peak()` is the kernel's high-water mark (VmHWM)."""

    def __init__(self, pid: int, interval: float = 0.05) -> None:
        self.pid = pid
        self.interval = interval
        self.max_rss = 0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._done.wait(self.interval):
            self.max_rss = max(self.max_rss, memory_kib(self.pid)["VmRSS"] * 1024)

    def peak(self) -> int:
        """Stop sampling; return the process's peak resident size in bytes so far."""
        self._done.set()
        self._thread.join(timeout=10)
        return memory_kib(self.pid)["VmHWM"] * 1024


def digest_of_stream(chunks: Iterator[bytes]) -> tuple[str, int]:
    """The sha256 digest and length of a stream of chunks."""
    hasher, length = hashlib.sha256(), 0
    for chunk in chunks:
        hasher.update(chunk)
        length += len(chunk)
    return "sha256:" + hasher.hexdigest(), length


def push_in_chunks(client: httpx.Client, seed: int) -> str:
    """POST, one PATCH per 16 MiB, PUT with the digest (hashed as the chunks go); return the digest."""
    answer = client.post(f"/v2/{REPO}/blobs/uploads/")
    assert answer.status_code == 202, answer.text
    hasher, offset = hashlib.sha256(), 0
    for chunk in random_chunks(seed, SIZE, CHUNK):
        answer = client.patch(
            answer.headers["Location"],
            content=chunk,
            headers={
                "Content-Type": "application/octet-stream",
                "Content-Range": f"{offset}-{offset + len(chunk) - 1}",
            },
        )
        assert answer.status_code == 202, answer.text
        offset += len(chunk)
        assert answer.headers["Range"] == f"0-{offset - 1}"
        hasher.update(chunk)
    digest = "sha256:" + hasher.hexdigest()
    answer = client.put(answer.headers["Location"], params={"digest": digest})
    assert answer.status_code == 201, answer.text
    return digest


def push_streamed(client: httpx.Client, seed: int) -> str:
    """One POST with `?digest=` whose body is a generator (chunked transfer encoding); return the digest."""
    digest, _ = digest_of_stream(random_chunks(seed, SIZE, MiB))
    answer = client.post(f"/v2/{REPO}/blobs/uploads/", params={"digest": digest}, content=random_chunks(seed, SIZE, MiB))
    assert answer.status_code == 201, answer.text
    assert answer.headers["Docker-Content-Digest"] == digest
    return digest


@pytest.mark.parametrize("push", [push_in_chunks, push_streamed], ids=["chunked-patches", "streamed-monolithic"])
def test_a_512_mib_blob_goes_up_and_down_with_bounded_server_memory(
    tmp_path: Path, push: Callable[[httpx.Client, int], str]
) -> None:
    data_dir = tmp_path / "data"
    args = ["serve", "--port", "0", "--data", str(data_dir), "--no-access-log", "--log-level", "warning"]
    try:
        with ServerProcess(args, cwd=tmp_path, env=clean_env()) as server:
            url = server.wait_listening()
            sampler = MemorySampler(server.pid)
            with httpx.Client(base_url=url, timeout=300) as client:
                digest = push(client, 512)
                with client.stream("GET", f"/v2/{REPO}/blobs/{digest}") as answer:
                    assert answer.status_code == 200
                    assert answer.headers["Content-Length"] == str(SIZE)
                    assert answer.headers["Docker-Content-Digest"] == digest
                    assert digest_of_stream(answer.iter_bytes(MiB)) == (digest, SIZE)
            peak = sampler.peak()
            print(
                f"\n{push.__name__}: server peak RSS (VmHWM) {peak / MiB:.1f} MiB, largest sampled VmRSS {sampler.max_rss / MiB:.1f} MiB"
            )
            assert server.stop(signal.SIGTERM) == 0
        assert peak < PEAK_LIMIT
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)

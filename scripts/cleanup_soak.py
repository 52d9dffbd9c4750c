#!/usr/bin/env python3
"""Acceptance soak of cleanup policies and online garbage collection, over real HTTP.

Starts `tinyreg serve` on 127.0.0.1 (port 0) with a `keep_n 5` policy on project `soak` whose
cadence is shortened to seconds (TINYREG_CLEANUP_CADENCE_SECONDS), a short GC interval and
grace; pushes 1,000 new tags (small distinct images, a few repositories); waits for cleanup
and collection; reports tags per repository (expect 5) and the bytes of blob files against
what the remaining tags need (expect within 10 %).

    PYTHONPATH=$PWD python scripts/cleanup_soak.py [--tags 1000] [--repos 4]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from tests.image_traffic import push_sample  # noqa: E402
from tests.processes import ServerProcess, clean_env, tinyreg_command  # noqa: E402
from tinyreg.samples import Sample, image, sha256  # noqa: E402

PROJECT = "soak"
REMOVED = re.compile(r"cleanup run of soak removed (\d+) tags")
FREED = re.compile(r"gc removed (\d+) blobs \((\d+) bytes freed\)")


def admin(data: Path, *args: str) -> None:
    done = subprocess.run(
        tinyreg_command(*args, "--data", str(data)), env=clean_env(), capture_output=True, text=True, timeout=120
    )
    if done.returncode != 0:
        raise SystemExit(f"tinyreg {' '.join(args)} failed: {done.stderr}")


def blob_bytes(data: Path) -> int:
    """Bytes of the blob files on disk (set-aside ones included: they are not freed yet)."""
    return sum(entry.stat().st_size for folder in ("blobs", "trash") for entry in (data / folder).rglob("*") if entry.is_file())


def tags_of(client: httpx.Client, repo: str) -> list[str]:
    response = client.get(f"/v2/{repo}/tags/list", params={"n": 10000})
    return list(response.json().get("tags") or []) if response.status_code == 200 else []


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tags", type=int, default=1000)
    parser.add_argument("--repos", type=int, default=4)
    parser.add_argument("--pushers", type=int, default=4)
    parser.add_argument("--timeout", type=float, default=600, help="seconds to wait for cleanup and GC")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="tinyreg-soak-"))
    data = work / "data"
    admin(data, "project", "create", PROJECT, "--init")
    admin(data, "cleanup-policy", "set", PROJECT, "--enabled", "--keep-n", "5", "--older-than", "none", "--name-regex", ".*")
    serve = ["serve", "--port", "0", "--data", str(data), "--no-access-log"]
    serve += ["--gc-interval", "3s", "--gc-grace", "5s", "--cleanup-interval", "1s"]
    env = clean_env(TINYREG_CLEANUP_CADENCE_SECONDS="5")
    repos = [f"{PROJECT}/app{n}" for n in range(args.repos)]
    samples: dict[tuple[str, str], Sample] = {}
    for n in range(args.tags):
        samples[repos[n % len(repos)], f"build-{n:04d}"] = image(seed=f"soak-{n}")
    started = time.monotonic()
    with ServerProcess(serve, cwd=work, env=env) as server:
        url = server.wait_listening()
        order = list(samples)
        retries = [0]
        lock = threading.Lock()

        def pusher(k: int) -> None:
            with httpx.Client(base_url=url, timeout=60) as client:
                for repo, tag in order[k :: args.pushers]:
                    attempts = push_sample(client, repo, tag, samples[repo, tag])
                    with lock:
                        retries[0] += attempts - 1

        threads = [threading.Thread(target=pusher, args=(k,)) for k in range(args.pushers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        pushed_in = time.monotonic() - started
        print(f"pushed {len(samples)} tags to {len(repos)} repositories in {pushed_in:.1f}s ({retries[0]} pushes retried)")

        with httpx.Client(base_url=url, timeout=60) as client:
            deadline = time.monotonic() + args.timeout
            tags: dict[str, list[str]] = {}
            needed = on_disk = 0
            while time.monotonic() < deadline:
                tags = {repo: tags_of(client, repo) for repo in repos}
                remaining = {sha256(blob): len(blob) for repo in repos for tag in tags[repo] for blob in samples[repo, tag].blobs}
                needed, on_disk = sum(remaining.values()), blob_bytes(data)
                if all(len(found) == 5 for found in tags.values()) and on_disk <= needed * 1.10:
                    break
                time.sleep(1)
        log = server.text("stderr")
        server.stop()
    removed = sum(int(n) for n in REMOVED.findall(log))
    freed = [(int(b), int(n)) for b, n in FREED.findall(log)]
    print(
        f"cleanup runs removed {removed} tags; {len(freed)} collections freed {sum(n for _, n in freed)} bytes "
        f"in {sum(b for b, _ in freed)} blobs"
    )
    for repo in repos:
        print(f"  {repo}: {len(tags[repo])} tags {sorted(tags[repo])}")
    ratio = on_disk / needed if needed else float("inf")
    print(f"blob files on disk: {on_disk} bytes; the remaining tags need {needed} bytes (ratio {ratio:.3f})")
    print(f"done after {time.monotonic() - started:.1f}s; data directory {data}")
    ok = all(len(found) == 5 for found in tags.values()) and ratio <= 1.10
    print("PASS" if ok else "FAIL")
    if ok:
        import shutil

        shutil.rmtree(work, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    os.umask(0o077)
    sys.exit(main())

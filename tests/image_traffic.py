"""Pushing and pulling small generated images over HTTP while the registry collects garbage.

With a short grace period a collection may remove a blob whose manifest is not pushed yet;
the registry then refuses the manifest (or the blob's commit) and a client pushes again, as
real clients do. `push_sample` does that, a bounded number of times.
"""

from __future__ import annotations

import httpx
from tinyreg.samples import Sample, sha256

ATTEMPTS = 8


def _push_once(client: httpx.Client, repo: str, tag: str, sample: Sample) -> bool:
    for blob in sample.blobs:
        digest = sha256(blob)
        response = client.post(f"/v2/{repo}/blobs/uploads/", params={"digest": digest}, content=blob)
        if response.status_code != 201:
            return False
    response = client.put(f"/v2/{repo}/manifests/{tag}", content=sample.manifest, headers={"Content-Type": sample.media_type})
    return response.status_code == 201


def push_sample(client: httpx.Client, repo: str, tag: str, sample: Sample) -> int:
    """Push `sample` as `repo:tag`, again when a collection raced it; the attempts it took."""
    for attempt in range(1, ATTEMPTS + 1):
        if _push_once(client, repo, tag, sample):
            return attempt
    raise AssertionError(f"{repo}:{tag} was refused {ATTEMPTS} times")


def pulls_back(client: httpx.Client, repo: str, tag: str, sample: Sample) -> bool:
    """Whether `repo:tag` gives back exactly `sample`'s manifest and every blob byte for byte."""
    response = client.get(f"/v2/{repo}/manifests/{tag}", headers={"Accept": sample.media_type})
    if response.status_code != 200 or response.content != sample.manifest:
        return False
    return all(client.get(f"/v2/{repo}/blobs/{sha256(blob)}").content == blob for blob in sample.blobs)

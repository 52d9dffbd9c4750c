"""Staging of uploads in S3: each one a multipart upload, its state in the metadata store.

Layout of one upload `<id>` under `<prefix>/staging/<id>/`::

    tail-<n>    the bytes after the last part (S3 parts are >= 5 MiB except the last one)
    data        the multipart upload's object, once assembled

and its state (`State`: the multipart upload's id, its parts with ETag and size, checkpoints,
generation) is a row of the metadata store (see `tinyreg.storage.staging_states`), together
with who appends now (a lease). Nothing lives only in one process's memory, and the row is in
the database every node shares: a session may continue on another worker or node. Each save
names the version of the row it read and is refused when another holder saved meanwhile
(`StagingChanged`). An upload is *assembled* (its multipart upload completed into `data`)
when its digest is asked for or at commit; commit then copies `data` (or the lone tail, for
uploads under 5 MiB, which never start a multipart upload) to the blob's key.

The digest of an upload: hashlib's state cannot be saved, so the registry keeps the live hash
in memory while the bytes pass (the usual case) and, when it is gone (another worker, a restart,
sha512), `staging_digest` reads the assembled object back in a stream. That costs a second read
only in those rare cases, where a resumable pure-Python hasher would slow every upload down.

Cutting back (`trim`) to a size its session recorded: the state keeps two checkpoints, `base`
(the size at the last cut, recorded by the registry) and `top` (after the last append), each
with the number of parts and the tail object it ends with. A cut goes back to either one, or
into one's tail; parts past it are left out of the part list (S3 drops unlisted parts at
completion). Sizes the registry records are always one of the two.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any, TypedDict

from botocore.exceptions import ClientError

from tinyreg.digest import Digest
from tinyreg.storage.s3.client import is_not_found
from tinyreg.storage.s3.location import S3Location
from tinyreg.storage.s3.objects import Objects
from tinyreg.storage.staging_states import StagingStates, is_held

PART_MIN = 5 * 1024 * 1024  # S3's least size of a part that is not the last
PART_TARGET = 8 * 1024 * 1024  # a long append is cut into parts of about this size
COPY_PART = 4 * 1024**3  # UploadPartCopy's pieces (S3 takes at most 5 GiB per part)
MAX_PARTS = 10_000  # S3's limit on part numbers: with parts of 5-16 MiB, uploads up to ~50 GiB (less after cut-backs)
READ_CHUNK = 8 * 1024 * 1024


class Checkpoint(TypedDict):
    size: int
    parts: int  # how many of `State.parts` it includes
    tail: str | None  # the tail object's key (None: no bytes after the parts)


@dataclass
class State:
    generation: str  # new for each staging: a holder of an older one sees it is no longer current
    upload: str | None = None  # the multipart upload's id (started at the first part)
    parts: list[list[Any]] = field(default_factory=list)  # [number, etag, size] of each part, in order
    numbered: int = 0  # the last part number used: a cut-off part keeps its number, so the last part stays the highest
    base: Checkpoint = field(default_factory=lambda: Checkpoint(size=0, parts=0, tail=None))
    top: Checkpoint = field(default_factory=lambda: Checkpoint(size=0, parts=0, tail=None))
    assembled: bool = False  # the bytes are the object `data` now (no parts, no tail)
    version: int = field(default=0, compare=False)  # of the stored row this was read as (not stored in it)

    def record(self) -> dict[str, Any]:
        """What the metadata store keeps (all but `version`, which is the row's own)."""
        fields = asdict(self)
        del fields["version"]
        return fields

    def start_of(self, point: Checkpoint) -> int:
        """Where the tail of `point` starts: the size of its parts."""
        return sum(int(size) for _, _, size in self.parts[: point["parts"]])

    def tails(self) -> set[str]:
        return {key for key in (self.base["tail"], self.top["tail"]) if key}


class StagingChanged(OSError):
    """The upload's state was saved by another holder since it was read, or is gone."""


class Stagings:
    """The staging uploads of one bucket and prefix, their states in `states`."""

    def __init__(self, objects: Objects, states: StagingStates, root: S3Location) -> None:
        self.objects = objects
        self.client = objects.client
        self.bucket = objects.bucket
        self.states = states
        self.root = root

    def folder(self, upload_id: str) -> str:
        return self.root.key("staging", upload_id) + "/"

    def key(self, upload_id: str, name: str) -> str:
        return self.folder(upload_id) + name

    # -- the state --------------------------------------------------------------------------

    def create(self, upload_id: str) -> None:
        self.states.create(upload_id, State(uuid.uuid4().hex).record())

    def load(self, upload_id: str) -> State | None:
        row = self.states.get(upload_id)
        return None if row is None else State(**row["state"], version=row["version"])

    def state(self, upload_id: str) -> State:
        loaded = self.load(upload_id)
        if loaded is None:
            raise FileNotFoundError(f"no staging upload {upload_id}")
        return loaded

    def _save(self, upload_id: str, state: State) -> None:
        """Save `state` over the version it was read as (StagingChanged when that is no longer the stored one)."""
        version = self.states.save(upload_id, state.record(), state.version)
        if version is None:
            raise StagingChanged(f"staging upload {upload_id} was changed by another holder meanwhile, or is gone")
        state.version = version

    def save(self, upload_id: str, state: State, dropped: Iterable[str] = ()) -> None:
        """Write the state, then remove the tail objects it no longer names."""
        self._save(upload_id, state)
        unused = sorted(set(dropped) - state.tails())
        if unused:
            self.objects.delete_many(unused)

    def ids(self) -> list[str]:
        """The uploads with a state, and the folders and multipart uploads left without one (a
        holder killed between writing and saving, a discard cut short, an older tinyreg that kept
        the state in the bucket) so that they are discarded too."""
        recorded = {upload_id for upload_id, _ in self.states.changed()}
        staging = self.root.key("staging") + "/"
        pages = self.client.get_paginator("list_multipart_uploads").paginate(Bucket=self.bucket, Prefix=staging)
        started = {upload["Key"][len(staging) :].partition("/")[0] for page in pages for upload in page.get("Uploads", [])}
        return sorted(recorded.union(self.objects.folders(staging), started))

    def idle(self, upload_id: str, now: float, ttl: float) -> bool:
        row = self.states.get(upload_id)
        if row is None:
            return True
        return now - row["updated"] > ttl and not is_held(row, time.time())

    def discard(self, upload_id: str) -> None:
        """Remove the state first (holders see at once that it is gone), then what it names.

        What a holder wrote without saving it in the state (killed in between) is found later,
        by `ids`, as a folder or a multipart upload without a state, and swept then; so a
        discard with a state makes only the requests its state calls for (none for an upload
        that never received bytes)."""
        row = self.states.get(upload_id)
        self.states.delete(upload_id)
        if row is None:
            self._sweep(upload_id)
            return
        state = State(**row["state"])
        data = self.key(upload_id, "data")
        if state.upload is not None and not state.assembled:
            try:
                self.client.abort_multipart_upload(Bucket=self.bucket, Key=data, UploadId=state.upload)
            except ClientError as exc:
                if not is_not_found(exc):
                    raise
        named = state.tails() | ({data} if state.upload is not None or state.assembled else set())
        if named:
            self.objects.delete_many(sorted(named))

    def _sweep(self, upload_id: str) -> None:
        """Remove every object and multipart upload under the upload's folder."""
        folder = self.folder(upload_id)
        pages = self.client.get_paginator("list_multipart_uploads").paginate(Bucket=self.bucket, Prefix=folder)
        for page in pages:
            for upload in page.get("Uploads", []):
                try:
                    self.client.abort_multipart_upload(Bucket=self.bucket, Key=upload["Key"], UploadId=upload["UploadId"])
                except ClientError as exc:
                    if not is_not_found(exc):
                        raise
        self.objects.delete_many([found["Key"] for found in self.objects.listing(folder)])

    # -- bytes ----------------------------------------------------------------------------

    def tail_bytes(self, point: Checkpoint, length: int | None = None) -> bytes:
        if point["tail"] is None:
            return b""
        if length is None:
            return self.objects.get_range(point["tail"], 0, 1 << 62)
        return self.objects.get_range(point["tail"], 0, length)

    def put_tail(self, upload_id: str, data: bytes) -> str | None:
        if not data:
            return None
        key = self.key(upload_id, f"tail-{uuid.uuid4().hex}")
        self.objects.put(key, data)
        return key

    def add_part(self, upload_id: str, state: State, data: bytes) -> None:
        number = state.numbered + 1
        if number > MAX_PARTS:
            raise OSError(f"upload {upload_id} is too large for S3: more than {MAX_PARTS} parts")
        if state.upload is None:
            started = self.client.create_multipart_upload(Bucket=self.bucket, Key=self.key(upload_id, "data"))
            state.upload = str(started["UploadId"])
            self._save(upload_id, state)  # a crash now leaves a multipart upload `discard` finds
        answer = self.client.upload_part(
            Bucket=self.bucket, Key=self.key(upload_id, "data"), UploadId=state.upload, PartNumber=number, Body=data
        )
        state.parts.append([number, answer["ETag"], len(data)])
        state.numbered = number

    def cut(self, upload_id: str, state: State, size: int) -> State:
        """Go back to `size` bytes (those the session recorded); the new state, saved."""
        top, base = state.top, state.base
        if state.assembled:
            return state if size == top["size"] else self.reopen(upload_id, state, size)
        if size == top["size"]:
            if base != top:
                dropped = state.tails()
                state.base = Checkpoint(**top)
                self.save(upload_id, state, dropped)
            return state
        for point in (top, base):
            start = state.start_of(point)
            if start <= size <= point["size"]:
                tail = point["tail"] if size == point["size"] else self.put_tail(upload_id, self.tail_bytes(point, size - start))
                dropped = state.tails()
                state.parts = state.parts[: point["parts"]]
                state.base = Checkpoint(size=size, parts=point["parts"], tail=tail)
                state.top = Checkpoint(**state.base)
                self.save(upload_id, state, dropped)
                return state
        raise OSError(f"staging upload {upload_id} holds {top['size']} bytes, it cannot be cut back to {size}")

    def assemble(self, upload_id: str) -> tuple[str | None, int]:
        """Complete the multipart upload (if any); the object holding the bytes (None: empty), and their size."""
        state = self.state(upload_id)
        top = state.top
        if state.assembled:
            return self.key(upload_id, "data"), top["size"]
        if top["parts"] == 0:
            return top["tail"], top["size"]  # under 5 MiB: the tail alone, no multipart upload
        state.parts = state.parts[: top["parts"]]
        uploaded = self._uploaded_parts(upload_id, state)
        state.numbered = max(state.numbered, *uploaded)  # a part uploaded by a holder killed before saving
        tail = self.tail_bytes(top)
        if tail:
            self.add_part(upload_id, state, tail)
            uploaded[state.parts[-1][0]] = (state.parts[-1][1], len(tail))
        data = self.key(upload_id, "data")
        if set(uploaded) == {number for number, _, _ in state.parts}:
            self._complete(data, state.upload, {number: etag for number, etag, _ in state.parts})
        else:
            self._complete_without_extras(upload_id, state, uploaded)
        # Ceph RGW answers CompleteMultipartUpload with an empty ETag: ask HEAD what was made.
        made = self.objects.size(data)
        if made != top["size"]:
            raise OSError(f"staging upload {upload_id} assembled to {made} bytes, not {top['size']}")
        dropped = state.tails()
        empty = Checkpoint(size=top["size"], parts=0, tail=None)
        assembled = State(state.generation, base=empty, top=Checkpoint(**empty), assembled=True, version=state.version)
        self.save(upload_id, assembled, dropped)
        return data, top["size"]

    def _uploaded_parts(self, upload_id: str, state: State) -> dict[int, tuple[str, int]]:
        """Every part S3 holds for the multipart upload: number -> (etag, size)."""
        pages = self.client.get_paginator("list_parts").paginate(
            Bucket=self.bucket, Key=self.key(upload_id, "data"), UploadId=state.upload
        )
        return {int(part["PartNumber"]): (part["ETag"], int(part["Size"])) for page in pages for part in page.get("Parts", [])}

    def _complete(self, key: str, upload: str | None, parts: dict[int, str]) -> None:
        listed = [{"ETag": parts[number], "PartNumber": number} for number in sorted(parts)]
        self.client.complete_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload, MultipartUpload={"Parts": listed})

    def _complete_without_extras(self, upload_id: str, state: State, uploaded: dict[int, tuple[str, int]]) -> None:
        """Complete an upload some of whose parts are not ours (cut off, or left by a killed holder).

        Ceph RGW refuses to complete a multipart upload without all of its parts, so all of them
        go into `data` first, then a second multipart upload copies our parts from there
        (server-side) over it.
        """
        data = self.key(upload_id, "data")
        self._complete(data, state.upload, {number: etag for number, (etag, _) in uploaded.items()})
        offsets, offset = {}, 0
        for number in sorted(uploaded):
            offsets[number] = offset
            offset += uploaded[number][1]
        upload = self.client.create_multipart_upload(Bucket=self.bucket, Key=data)["UploadId"]
        copied = {}
        for index, (number, _, size) in enumerate(state.parts, 1):
            answer = self.client.upload_part_copy(
                Bucket=self.bucket,
                Key=data,
                UploadId=upload,
                PartNumber=index,
                CopySource={"Bucket": self.bucket, "Key": data},
                CopySourceRange=f"bytes={offsets[number]}-{offsets[number] + int(size) - 1}",
            )
            copied[index] = answer["CopyPartResult"]["ETag"]
        self._complete(data, upload, copied)

    def reopen(self, upload_id: str, state: State, size: int) -> State:
        """Make an assembled upload appendable again, holding its first `size` bytes."""
        data = self.key(upload_id, "data")
        fresh = State(state.generation, version=state.version)
        if size < PART_MIN:
            tail = self.put_tail(upload_id, self.objects.get_range(data, 0, size))
        else:
            tail = None
            fresh.upload = str(self.client.create_multipart_upload(Bucket=self.bucket, Key=data)["UploadId"])
            for number, (start, end) in enumerate(copy_ranges(size), 1):
                answer = self.client.upload_part_copy(
                    Bucket=self.bucket,
                    Key=data,
                    UploadId=fresh.upload,
                    PartNumber=number,
                    CopySource={"Bucket": self.bucket, "Key": data},
                    CopySourceRange=f"bytes={start}-{end - 1}",
                )
                fresh.parts.append([number, answer["CopyPartResult"]["ETag"], end - start])
                fresh.numbered = number
        fresh.base = Checkpoint(size=size, parts=len(fresh.parts), tail=tail)
        fresh.top = Checkpoint(**fresh.base)
        self.save(upload_id, fresh)
        return fresh

    def digest(self, upload_id: str, algorithm: str) -> Digest:
        """The digest of the upload's bytes, read back in a stream (assembling them first)."""
        source, _ = self.assemble(upload_id)
        hasher = Digest(algorithm, "").hasher()
        if source is not None:
            with self.objects.open(source) as stream:
                while chunk := stream.read(READ_CHUNK):
                    hasher.update(chunk)
        return Digest(algorithm, hasher.hexdigest())


def copy_ranges(size: int) -> list[tuple[int, int]]:
    """[start, end) pieces of at most COPY_PART bytes covering `size`, none but the last under PART_MIN."""
    pieces = [(start, min(start + COPY_PART, size)) for start in range(0, size, COPY_PART)]
    if len(pieces) > 1 and pieces[-1][1] - pieces[-1][0] < PART_MIN:
        last = pieces.pop()
        pieces[-1] = (pieces[-1][0], last[1])
    return pieces

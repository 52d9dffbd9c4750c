"""Object operations the blob store and staging share: head, streaming reads, copies, listings, deletes."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

from botocore.exceptions import ClientError

from tinyreg.storage.s3.client import is_not_found
from tinyreg.storage.s3.presigned_reads import PresignedReads

COPY_LIMIT = 5 * 1024**3  # CopyObject's largest source; beyond it a multipart copy
DELETE_BATCH = 1000  # DeleteObjects takes at most this many keys


class Objects:
    """The objects of one bucket."""

    def __init__(self, client: Any, bucket: str) -> None:
        self.client = client
        self.bucket = bucket
        self.presigned = PresignedReads(client, bucket)

    def head(self, key: str) -> dict[str, Any] | None:
        try:
            answer: dict[str, Any] = self.client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if is_not_found(exc):
                return None
            raise
        return answer

    def size(self, key: str) -> int | None:
        found = self.head(key)
        return None if found is None else int(found["ContentLength"])

    def get_range(self, key: str, start: int, length: int) -> bytes:
        """Up to `length` bytes from `start` (FileNotFoundError when the object is absent)."""
        if length <= 0:
            return b""
        try:
            answer = self.client.get_object(Bucket=self.bucket, Key=key, Range=f"bytes={start}-{start + length - 1}")
        except ClientError as exc:
            if is_not_found(exc):
                raise FileNotFoundError(key) from None
            if exc.response.get("Error", {}).get("Code") == "InvalidRange":
                return b""  # starts at or past the end (or the object is empty)
            raise
        data: bytes = answer["Body"].read()
        return data

    def open(self, key: str) -> ObjectReader:
        found = self.presigned.get(key)
        if found is not None:
            return ObjectReader(self, key, *found)
        try:
            answer = self.client.get_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if is_not_found(exc):
                raise FileNotFoundError(key) from None
            raise
        return ObjectReader(self, key, int(answer["ContentLength"]), answer["Body"])

    def put(self, key: str, data: bytes, **extra: str) -> str:
        answer = self.client.put_object(Bucket=self.bucket, Key=key, Body=data, **extra)
        return str(answer.get("ETag", ""))

    def copy(self, source: str, target: str, size: int) -> None:
        """Copy server-side (FileNotFoundError when the source is gone)."""
        try:
            if size <= COPY_LIMIT:
                self.client.copy_object(Bucket=self.bucket, Key=target, CopySource={"Bucket": self.bucket, "Key": source})
            else:
                self.client.copy({"Bucket": self.bucket, "Key": source}, self.bucket, target)
        except ClientError as exc:
            if is_not_found(exc):
                raise FileNotFoundError(source) from None
            raise

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=key)

    def delete_many(self, keys: list[str]) -> None:
        for start in range(0, len(keys), DELETE_BATCH):
            batch = [{"Key": key} for key in keys[start : start + DELETE_BATCH]]
            self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True})

    def listing(self, prefix: str) -> Iterator[dict[str, Any]]:
        """Every object under `prefix`, page by page (ListObjectsV2 continuation)."""
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
            yield from page.get("Contents", [])

    def folders(self, prefix: str) -> Iterator[str]:
        """The names of the "folders" right under `prefix` (which ends with a slash)."""
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix, Delimiter="/")
        for page in pages:
            for common in page.get("CommonPrefixes", []):
                yield common["Prefix"][len(prefix) :].rstrip("/")


class ObjectReader(io.RawIOBase):
    """An object read as a stream over GetObject: the body is never held whole in memory.

    Seeking drops the current response; the next read asks again from there (a ranged GET).
    """

    def __init__(self, objects: Objects, key: str, size: int, body: Any) -> None:
        super().__init__()
        self._objects = objects
        self._key = key
        self._size = size
        self._body: Any = body
        self._position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._size}[whence]
        position = max(0, base + offset)
        if position != self._position:
            self._drop_body()
            self._position = position
        return position

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            size = self._size - self._position
        size = min(size, self._size - self._position)
        if size <= 0:
            return b""
        if self._body is None:
            answer = self._objects.client.get_object(Bucket=self._objects.bucket, Key=self._key, Range=f"bytes={self._position}-")
            self._body = answer["Body"]
        data: bytes = self._body.read(size)
        self._position += len(data)
        return data

    def readall(self) -> bytes:
        return self.read(-1)

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def _drop_body(self) -> None:
        if self._body is not None:
            self._body.close()
            self._body = None

    def close(self) -> None:
        self._drop_body()
        super().close()

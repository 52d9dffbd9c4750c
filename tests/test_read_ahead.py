"""`chunks_ahead`: a remote store's blob streamed one read ahead of the client."""

from __future__ import annotations

import io
import threading
from pathlib import Path

import pytest
import trio
from tinyreg.http.read_ahead import chunks_ahead
from tinyreg.registry.names import Digest

DIGEST = Digest.of(b"x")


async def _collect(file: io.RawIOBase | io.BufferedReader, start: int, length: int, chunk: int) -> list[bytes]:
    return [piece async for piece in chunks_ahead(file, DIGEST, start, length, chunk)]  # type: ignore[arg-type]


@pytest.mark.parametrize(("start", "length", "chunk"), [(0, 1000, 300), (0, 1000, 1000), (10, 990, 4096), (123, 1, 7)])
def test_every_byte_in_order_in_chunks(tmp_path: Path, start: int, length: int, chunk: int) -> None:
    data = bytes(range(256)) * 4
    (tmp_path / "blob").write_bytes(data[:1000])
    file = (tmp_path / "blob").open("rb")
    pieces = trio.run(_collect, file, start, length, chunk)
    assert b"".join(pieces) == data[start : start + length]
    assert all(len(piece) <= chunk for piece in pieces)
    assert file.closed


def test_a_file_shorter_than_its_size_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "blob").write_bytes(b"abc")
    file = (tmp_path / "blob").open("rb")
    with pytest.raises(OSError, match="shorter than its recorded size"):
        trio.run(_collect, file, 0, 10, 2)
    assert file.closed


class _Slow(io.RawIOBase):
    """A file whose second read waits until told, to catch a close during a read."""

    def __init__(self) -> None:
        self.reads = 0
        self.release = threading.Event()
        self.reading = threading.Event()
        self.closed_during_read = False
        self.in_read = False

    def readable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = 0) -> int:
        return offset

    def read(self, size: int = -1) -> bytes:
        self.reads += 1
        self.in_read = True
        try:
            if self.reads == 2:
                self.reading.set()
                self.release.wait(10)
            return b"z" * size
        finally:
            self.in_read = False

    def close(self) -> None:
        self.closed_during_read = self.closed_during_read or self.in_read
        super().close()


def test_a_body_dropped_early_closes_the_file_after_the_read_in_flight() -> None:
    file = _Slow()

    async def main() -> None:
        body = chunks_ahead(file, DIGEST, 0, 100, 10)  # type: ignore[arg-type]
        assert await body.__anext__() == b"z" * 10  # the next read has started meanwhile
        await trio.to_thread.run_sync(file.reading.wait, 10)
        threading.Timer(0.2, file.release.set).start()
        await body.aclose()  # the client went away

    trio.run(main)
    assert file.closed and not file.closed_during_read

"""Large values and many keys: each operation's cost follows what it touches."""

from __future__ import annotations

import os

from tinyreg.storage.interfaces import MetaWriter

from .backends import Backend
from .test_meta_contract import row

TAGS = 20_000
D1, D2 = "sha256:" + "1" * 64, "sha256:" + "2" * 64


def test_a_4_mib_manifest_value_is_stored_and_read_back(backend: Backend) -> None:
    data = os.urandom(4 * 1024 * 1024)
    big = {**row(), "annotations": {f"k{i}": "v" * 100 for i in range(10_000)}}
    backend.meta.write(lambda tx: tx.put_manifest("r", D1, data, big))  # type: ignore[arg-type]
    with backend.meta.read() as tx:
        assert tx.manifest_data(D1) == data
        assert tx.manifest("r", D1) == big


def test_many_tags_list_by_pages_and_a_delete_by_digest_touches_only_its_own(backend: Backend) -> None:
    def push(tx: MetaWriter) -> None:
        tx.put_manifest("r", D1, b"one", row())
        tx.put_manifest("r", D2, b"two", row())
        for i in range(TAGS):
            tx.set_tag("r", f"t{i:05d}", D1, float(i))
        tx.set_tag("r", "mine-a", D2, 1.0)
        tx.set_tag("r", "mine-b", D2, 1.0)

    backend.meta.write(push)
    with backend.meta.read() as tx:
        seen: list[str] = []
        after = None
        while True:
            page, more = tx.tags("r", after=after, limit=7_000)
            seen.extend(page)
            if not more:
                break
            after = page[-1]
        assert seen == sorted(["mine-a", "mine-b", *(f"t{i:05d}" for i in range(TAGS))])

    def delete(tx: MetaWriter) -> int | None:
        assert tx.delete_manifest("r", D2) is not None
        return getattr(tx, "rows_visited", None)  # implementations that count rows scanned say so

    visited = backend.meta.write(delete)
    if visited is not None:
        assert visited <= 4  # its two tags, not the repository's 20,002
    with backend.meta.read() as tx:
        assert tx.tags("r", after="mine-b", limit=1) == (["t00000"], True)
        assert tx.tags("r", after=None, limit=1) == (["t00000"], True)
        assert tx.tags_of("r", D2) == [] and len(tx.tags_of("r", D1)) == TAGS

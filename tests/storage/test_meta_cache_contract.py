"""The metadata store's contract for the pull-through cache's rows of cached repositories."""

from __future__ import annotations

from tinyreg.storage.interfaces import CachedRepositoryRow, MetaWriter

from .backends import Backend


def _row(upstream: str, last_pulled: float, hits: int = 0) -> CachedRepositoryRow:
    return {
        "mirror": "hub",
        "upstream": upstream,
        "last_pulled": last_pulled,
        "hits": hits,
        "misses": 1,
        "checked": {"3.19": 5.5},
    }


def test_cached_repository_rows_are_stored_listed_replaced_and_deleted(backend: Backend) -> None:
    def setup(tx: MetaWriter) -> None:
        tx.put_cached_repository("hub/library/alpine", _row("library/alpine", 10.0))
        tx.put_cached_repository("hub/library/busybox", _row("library/busybox", 5.0))

    backend.meta.write(setup)
    backend.meta.write(lambda tx: tx.put_cached_repository("hub/library/alpine", _row("library/alpine", 20.0, hits=3)))
    with backend.meta.read() as tx:
        assert tx.cached_repository("hub/library/alpine") == _row("library/alpine", 20.0, hits=3)
        assert tx.cached_repository("hub/other") is None
        assert [repo for repo, _ in tx.iter_cached_repositories()] == ["hub/library/alpine", "hub/library/busybox"]
    assert backend.meta.write(lambda tx: tx.delete_cached_repository("hub/library/busybox")) is True
    assert backend.meta.write(lambda tx: tx.delete_cached_repository("hub/library/busybox")) is False
    with backend.reopen().meta.read() as tx:
        assert [repo for repo, _ in tx.iter_cached_repositories()] == ["hub/library/alpine"]


def test_deleting_a_repository_removes_its_cache_row(backend: Backend) -> None:
    def setup(tx: MetaWriter) -> None:
        tx.ensure_repository("hub/library/alpine")
        tx.put_cached_repository("hub/library/alpine", _row("library/alpine", 1.0))

    backend.meta.write(setup)
    assert backend.meta.write(lambda tx: tx.delete_repository("hub/library/alpine")) is True
    with backend.meta.read() as tx:
        assert tx.cached_repository("hub/library/alpine") is None

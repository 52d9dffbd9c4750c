"""The metadata store's contract for housekeeping rows: cleanup policies and leases."""

from __future__ import annotations

from tinyreg.storage.interfaces import MetaWriter

from .backends import Backend


def test_cleanup_policies_are_stored_listed_and_deleted(backend: Backend) -> None:
    def setup(tx: MetaWriter) -> None:
        tx.put_cleanup_policy("team/app", {"enabled": True, "keep_n": 5})
        tx.put_cleanup_policy("a/b", {"enabled": False, "keep_n": None})

    backend.meta.write(setup)
    backend.meta.write(lambda tx: tx.put_cleanup_policy("team/app", {"enabled": True, "keep_n": 10}))  # replaces
    with backend.meta.read() as tx:
        assert tx.cleanup_policy("team/app") == {"enabled": True, "keep_n": 10} and tx.cleanup_policy("x") is None
        assert list(tx.iter_cleanup_policies()) == [
            ("a/b", {"enabled": False, "keep_n": None}),
            ("team/app", {"enabled": True, "keep_n": 10}),
        ]
    assert backend.meta.write(lambda tx: tx.delete_cleanup_policy("a/b")) is True
    assert backend.meta.write(lambda tx: tx.delete_cleanup_policy("a/b")) is False
    with backend.reopen().meta.read() as tx:
        assert [path for path, _ in tx.iter_cleanup_policies()] == ["team/app"]


def test_leases_are_written_read_and_released(backend: Backend) -> None:
    backend.meta.write(lambda tx: tx.put_lease("cleanup", {"holder": "one", "expires": 5.0}))
    with backend.meta.read() as tx:
        assert tx.lease("cleanup") == {"holder": "one", "expires": 5.0} and tx.lease("gc") is None
    assert backend.meta.write(lambda tx: tx.delete_lease("cleanup")) is True
    assert backend.meta.write(lambda tx: tx.delete_lease("cleanup")) is False

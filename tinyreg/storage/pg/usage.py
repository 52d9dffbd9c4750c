"""Usage rows on PostgreSQL: reference counts per (owner, digest), owners' totals, the bytes stored."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping

from tinyreg.storage.interfaces import UsageKind, UsageRef
from tinyreg.storage.pg.tx import PgTx


class UsageReader(PgTx):
    __slots__ = ()

    def usage_ref(self, kind: UsageKind, owner: str, digest: str) -> UsageRef | None:
        row = self._one(
            "SELECT manifests, size FROM usage_refs WHERE kind = %s AND owner = %s AND digest = %s", (kind, owner, digest)
        )
        return None if row is None else UsageRef(row[0], row[1])

    def usage_counts(self, kind: UsageKind, owner: str, digests: Iterable[str]) -> dict[str, UsageRef | None]:
        wanted = list(digests)
        found: dict[str, UsageRef | None] = dict.fromkeys(wanted)
        if wanted:  # one query for all of them: a manifest put asks for each of its blobs
            rows = self._all(
                "SELECT digest, manifests, size FROM usage_refs WHERE kind = %s AND owner = %s AND digest = ANY(%s)",
                (kind, owner, wanted),
            )
            found.update((row[0], UsageRef(row[1], row[2])) for row in rows)
        return found

    def usage_refs(self, kind: UsageKind, owner: str) -> Iterator[tuple[str, UsageRef]]:
        rows = self._pages(
            "SELECT digest, manifests, size FROM usage_refs WHERE kind = %s AND owner = %s AND {after}",
            ("digest",),
            (kind, owner),
        )
        return ((row[0], UsageRef(row[1], row[2])) for row in rows)

    def usage_total(self, kind: UsageKind, owner: str) -> int:
        return int(self._value("SELECT total FROM usage_totals WHERE kind = %s AND owner = %s", (kind, owner)) or 0)

    def usage_totals(self, kind: UsageKind) -> Iterator[tuple[str, int]]:
        rows = self._pages("SELECT owner, total FROM usage_totals WHERE kind = %s AND {after}", ("owner",), (kind,))
        return ((row[0], int(row[1])) for row in rows)

    def stored_bytes(self) -> int:
        return int(self._value("SELECT total FROM stored_bytes") or 0)


class UsageWriter(UsageReader):
    __slots__ = ()

    def set_usage_refs(self, kind: UsageKind, owner: str, refs: Mapping[str, UsageRef | None]) -> None:
        gone = [digest for digest, ref in refs.items() if ref is None or ref.manifests <= 0]
        kept = [(digest, ref) for digest, ref in refs.items() if ref is not None and ref.manifests > 0]
        if gone:
            self.conn.execute("DELETE FROM usage_refs WHERE kind = %s AND owner = %s AND digest = ANY(%s)", (kind, owner, gone))
        if kept:
            # One statement for all the digests of a manifest, from arrays.
            self.conn.execute(
                "INSERT INTO usage_refs (kind, owner, digest, manifests, size) "
                "SELECT %s, %s, d, m, s FROM unnest(%s::text[], %s::bigint[], %s::bigint[]) AS u (d, m, s) "
                "ON CONFLICT (kind, owner, digest) DO UPDATE SET manifests = EXCLUDED.manifests, size = EXCLUDED.size",
                (kind, owner, [d for d, _ in kept], [r.manifests for _, r in kept], [r.size for _, r in kept]),
            )

    def set_usage_total(self, kind: UsageKind, owner: str, total: int) -> None:
        self.conn.execute(
            "INSERT INTO usage_totals (kind, owner, total) VALUES (%s, %s, %s) "
            "ON CONFLICT (kind, owner) DO UPDATE SET total = EXCLUDED.total",
            (kind, owner, total),
        )

    def clear_usage(self, kind: UsageKind, owner: str) -> None:
        self.conn.execute("DELETE FROM usage_refs WHERE kind = %s AND owner = %s", (kind, owner))
        self.conn.execute("DELETE FROM usage_totals WHERE kind = %s AND owner = %s", (kind, owner))

    def set_stored_bytes(self, total: int) -> None:
        self.conn.execute("UPDATE stored_bytes SET total = %s", (total,))

    def _add_stored(self, change: int) -> None:
        self.conn.execute("UPDATE stored_bytes SET total = total + %s", (change,))

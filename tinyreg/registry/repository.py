"""Manifests and tags of a repository: put, get, delete.

A manifest put is one write transaction: it checks that every referenced blob and child
manifest is in this repository, then stores the bytes (once per digest, or in the repository's
row for a signed schema 1 manifest), the repository's row, the tag and the referrer entry
together, so a reader never sees half of it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from tinyreg.registry.blobs import ensure_repo, manifest_bytes
from tinyreg.registry.errors import RegistryError
from tinyreg.registry.manifests import ParsedManifest, digested_bytes, parse_manifest, shares_bytes
from tinyreg.registry.names import Digest, check_tag, looks_like_digest, parse_digest
from tinyreg.storage import keys
from tinyreg.storage.meta import Meta


@dataclass(frozen=True, slots=True)
class StoredManifest:
    """A manifest as served: its digest, media type and exact bytes."""

    digest: str
    media_type: str
    data: bytes


@dataclass(frozen=True, slots=True)
class PutResult:
    digest: str
    subject: str | None


class Manifests:
    """The manifest and tag operations of the registry."""

    def __init__(self, meta: Meta) -> None:
        self.meta = meta

    def put(self, repo: str, reference: str, data: bytes, content_type: str | None) -> PutResult:
        """Validate and store a manifest under a tag or its digest."""
        tag = None
        wanted = parse_digest(reference) if looks_like_digest(reference) else None
        if wanted is None:
            tag = check_tag(reference)
        parsed = parse_manifest(data, content_type)
        actual = Digest.of(digested_bytes(data, parsed.media_type), wanted.algorithm if wanted else "sha256")
        if wanted is not None and actual != wanted:
            raise RegistryError("DIGEST_INVALID", f"manifest has digest {actual}, not {wanted}", detail={"digest": reference})
        digest = str(actual)
        self.meta.write(lambda txn: self._store(txn, repo, digest, tag, data, parsed))
        return PutResult(digest, str(parsed.subject) if parsed.subject else None)

    def _store(self, txn, repo: str, digest: str, tag: str | None, data: bytes, parsed: ParsedManifest) -> None:  # type: ignore[no-untyped-def]
        db = self.meta.db
        for blob in parsed.blobs:
            if txn.get(keys.repo_key(repo, str(blob)), db=db["links"]) is None:
                raise RegistryError(
                    "MANIFEST_BLOB_UNKNOWN", f"blob {blob} is not in repository {repo}", detail={"digest": str(blob)}
                )
        for child in parsed.manifests:
            if txn.get(keys.repo_key(repo, str(child)), db=db["manifests"]) is None:
                raise RegistryError(
                    "MANIFEST_BLOB_UNKNOWN", f"manifest {child} is not in repository {repo}", detail={"digest": str(child)}
                )
        now = time.time()
        own_copy = not shares_bytes(parsed.media_type)  # signed schema 1: kept in the row, per repository
        if not own_copy:
            stored = txn.get(digest.encode(), db=db["manifest_data"])
            if stored is None:
                txn.put(digest.encode(), data, db=db["manifest_data"])
            elif bytes(stored) != data:  # bytes served under a digest are never replaced or mixed up
                raise RegistryError("MANIFEST_INVALID", f"other bytes are stored under {digest}", detail={"digest": digest})
        row_key = keys.repo_key(repo, digest)
        old = self.meta.get(txn, "manifests", row_key)
        self.meta.put(
            txn,
            "manifests",
            row_key,
            {
                "media_type": parsed.media_type,
                "size": len(data),
                "artifact_type": parsed.artifact_type,
                "subject": str(parsed.subject) if parsed.subject else None,
                "annotations": parsed.annotations,
                "refs": [str(d) for d in (*parsed.blobs, *parsed.manifests)],
                "created": old["created"] if old else now,
                **({"data": data} if own_copy else {}),
            },
        )
        if tag is not None:
            txn.put(keys.repo_key(repo, tag), digest.encode(), db=db["tags"])
        if parsed.subject is not None:
            txn.put(keys.referrer_key(repo, str(parsed.subject), digest), b"", db=db["referrers"])
        ensure_repo(self.meta, txn, repo)

    def get(self, repo: str, reference: str) -> StoredManifest:
        """The manifest a tag points to, or the manifest of that digest; MANIFEST_UNKNOWN if none."""
        db = self.meta.db
        with self.meta.read() as txn:
            if looks_like_digest(reference):
                digest = str(parse_digest(reference))
            else:
                check_tag(reference)
                raw = txn.get(keys.repo_key(repo, reference), db=db["tags"])
                digest = raw.decode() if raw is not None else ""
            row = self.meta.get(txn, "manifests", keys.repo_key(repo, digest)) if digest else None
            data = manifest_bytes(self.meta, txn, digest, row) if row is not None else None
        if row is None or data is None:
            raise RegistryError("MANIFEST_UNKNOWN", detail={"reference": reference[:200]})
        return StoredManifest(digest, row["media_type"], data)

    def delete(self, repo: str, reference: str) -> None:
        """Delete a tag (untag only), or a manifest by digest together with its tags."""
        if looks_like_digest(reference):
            digest = str(parse_digest(reference))
            self.meta.write(lambda txn: self._delete_manifest(txn, repo, digest))
        else:
            tag_key = keys.repo_key(repo, check_tag(reference))

            def untag(txn):  # type: ignore[no-untyped-def]
                if not self.meta.delete(txn, "tags", tag_key):
                    raise RegistryError("MANIFEST_UNKNOWN", detail={"reference": reference})

            self.meta.write(untag)

    def _delete_manifest(self, txn, repo: str, digest: str) -> None:  # type: ignore[no-untyped-def]
        row_key = keys.repo_key(repo, digest)
        row = self.meta.get(txn, "manifests", row_key)
        if row is None:
            raise RegistryError("MANIFEST_UNKNOWN", detail={"reference": digest})
        self.meta.delete(txn, "manifests", row_key)
        target = digest.encode()
        doomed = [key for key, value in self.meta.scan(txn, "tags", keys.repo_prefix(repo)) if value == target]
        for key in doomed:
            self.meta.delete(txn, "tags", key)
        if row.get("subject"):
            self.meta.delete(txn, "referrers", keys.referrer_key(repo, row["subject"], digest))

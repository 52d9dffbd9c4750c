"""Manifests and tags of a repository: put, get, delete.

A manifest put is one write transaction: it checks that every referenced blob and child
manifest is in this repository, then stores the bytes (once per digest, or in the repository's
row for a signed schema 1 manifest), the repository's row, the tag and the referrer entry
together, so a reader never sees half of it; its usage is counted (and its project's size limit
checked) in that same unit of work, and uncounted in the one that deletes it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from tinyreg.registry.accounting import Accounting
from tinyreg.registry.aliases import in_force, refuse_if_moved
from tinyreg.registry.errors import RegistryError
from tinyreg.registry.events import DELETE, PULL, PUSH, Origin, Subject
from tinyreg.registry.manifests import ParsedManifest, digested_bytes, parse_manifest, shares_bytes
from tinyreg.registry.names import Digest, check_tag, looks_like_digest, parse_digest
from tinyreg.registry.notifier import Notifier
from tinyreg.storage.interfaces import FoundManifest, ManifestRow, MetaStore, MetaWriter


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

    def __init__(self, meta: MetaStore, accounting: Accounting | None = None, notifier: Notifier | None = None) -> None:
        self.meta = meta
        self.accounting = accounting or Accounting()
        self.notifier = notifier or Notifier(meta)

    def put(self, repo: str, reference: str, data: bytes, content_type: str | None, origin: Origin | None = None) -> PutResult:
        """Validate and store a manifest under a tag or its digest (with its push event when `origin` is given)."""
        tag = None
        wanted = parse_digest(reference) if looks_like_digest(reference) else None
        if wanted is None:
            tag = check_tag(reference)
        parsed = parse_manifest(data, content_type)
        actual = Digest.of(digested_bytes(data, parsed.media_type), wanted.algorithm if wanted else "sha256")
        if wanted is not None and actual != wanted:
            raise RegistryError("DIGEST_INVALID", f"manifest has digest {actual}, not {wanted}", detail={"digest": reference})
        digest = str(actual)
        self.meta.write(lambda tx: self._store(tx, repo, digest, tag, data, parsed, origin))
        return PutResult(digest, str(parsed.subject) if parsed.subject else None)

    def put_verified(
        self, tx: MetaWriter, repo: str, digest: str, tag: str | None, data: bytes, parsed: ParsedManifest, sizes: dict[str, int]
    ) -> None:
        """Store a manifest already checked against its digest, without requiring its blobs and
        child manifests in the repository (inside a unit of work): the pull-through cache keeps
        a manifest before the layers a client goes on to pull, and an index with only the
        platforms pulled. `sizes` are the blobs' sizes as the manifest's descriptors give them."""
        self._store(tx, repo, digest, tag, data, parsed, None, sizes)

    def _store(
        self,
        tx: MetaWriter,
        repo: str,
        digest: str,
        tag: str | None,
        data: bytes,
        parsed: ParsedManifest,
        origin: Origin | None,
        cached_sizes: dict[str, int] | None = None,
    ) -> None:
        refuse_if_moved(tx, repo)
        blob_sizes = {}
        for blob in parsed.blobs if cached_sizes is None else ():
            link = tx.link(repo, str(blob))
            if link is None:
                raise RegistryError(
                    "MANIFEST_BLOB_UNKNOWN", f"blob {blob} is not in repository {repo}", detail={"digest": str(blob)}
                )
            blob_sizes[str(blob)] = int(link.get("size", 0))
        if cached_sizes is not None:
            blob_sizes = {str(blob): cached_sizes.get(str(blob), 0) for blob in parsed.blobs}
        for child in parsed.manifests if cached_sizes is None else ():
            if not tx.has_manifest(repo, str(child)):
                raise RegistryError(
                    "MANIFEST_BLOB_UNKNOWN", f"manifest {child} is not in repository {repo}", detail={"digest": str(child)}
                )
        now = time.time()
        own_copy = not shares_bytes(parsed.media_type)  # signed schema 1: kept in the row, per repository
        if not own_copy:
            stored = tx.manifest_data(digest)
            if stored is not None and bytes(stored) != data:  # bytes served under a digest are never replaced or mixed up
                raise RegistryError("MANIFEST_INVALID", f"other bytes are stored under {digest}", detail={"digest": digest})
        row: ManifestRow = {
            "media_type": parsed.media_type,
            "size": len(data),
            "artifact_type": parsed.artifact_type,
            "subject": str(parsed.subject) if parsed.subject else None,
            "annotations": parsed.annotations,
            "refs": [str(d) for d in (*parsed.blobs, *parsed.manifests)],
            "created": now,
            "children": len(parsed.manifests),
        }
        if own_copy:
            row["data"] = data
        old = tx.manifest(repo, digest)
        if old is None or old["size"] != row["size"]:  # pushed again as it was: counted already
            if old is not None:
                self.accounting.manifest_removed(tx, repo, digest, old)
            self.accounting.manifest_added(tx, repo, digest, len(data), blob_sizes)
        tx.put_manifest(repo, digest, data, row)
        if tag is not None:
            tx.set_tag(repo, tag, digest, now)
        tx.ensure_repository(repo)
        if cached_sizes is None:  # a fill of the pull-through cache is nobody's push
            refs = tuple(row["refs"])
            self.notifier.record(
                tx, Subject(PUSH, "manifest", repo, digest, parsed.media_type, len(data), tag, references=refs), origin
            )

    def pulled(self, repo: str, reference: str, manifest: StoredManifest, origin: Origin) -> None:
        """Note the pull of a manifest (by tag, or by digest) for its event."""
        tag = None if looks_like_digest(reference) else reference
        subject = Subject(PULL, "manifest", repo, manifest.digest, manifest.media_type, len(manifest.data), tag)
        self.notifier.note_pull(subject, origin)

    def get(self, repo: str, reference: str) -> StoredManifest:
        """The manifest a tag points to, or the manifest of that digest; MANIFEST_UNKNOWN if none."""
        return self._stored(self._find(repo, reference), reference)

    async def serve(self, name: str, reference: str) -> tuple[str, StoredManifest]:
        """What a GET or HEAD of `name`'s manifest answers, and the repository it is from: the old
        name of a moved repository answers for the new one. One call of the metadata store (one
        round trip on a database, from the event loop) unless the name did move."""
        found = await self._afind(name, reference)
        if in_force(found.alias, time.time()):
            assert found.alias is not None
            name = found.alias["target"]
            found = await self._afind(name, reference)
        return name, self._stored(found, reference)

    async def _afind(self, repo: str, reference: str) -> FoundManifest:
        return await self.meta.afind_manifest(repo, **_lookup(reference))

    def _find(self, repo: str, reference: str) -> FoundManifest:
        return self.meta.find_manifest(repo, **_lookup(reference))

    @staticmethod
    def _stored(found: FoundManifest, reference: str) -> StoredManifest:
        if found.digest is None or found.media_type is None or found.data is None:
            raise RegistryError("MANIFEST_UNKNOWN", detail={"reference": reference[:200]})
        return StoredManifest(found.digest, found.media_type, found.data)

    def delete(self, repo: str, reference: str, origin: Origin | None = None) -> None:
        """Delete a tag (untag only), or a manifest by digest together with its tags."""
        if looks_like_digest(reference):
            digest = str(parse_digest(reference))

            def delete_manifest(tx: MetaWriter) -> None:
                row = tx.delete_manifest(repo, digest)
                if row is None:
                    raise RegistryError("MANIFEST_UNKNOWN", detail={"reference": digest})
                self.accounting.manifest_removed(tx, repo, digest, row)
                self.notifier.record(tx, Subject(DELETE, "manifest", repo, digest), origin)

            self.meta.write(delete_manifest)
        else:
            tag = check_tag(reference)

            def untag(tx: MetaWriter) -> None:
                digest = tx.tag_digest(repo, tag)
                if digest is None or not tx.delete_tag(repo, tag):
                    raise RegistryError("MANIFEST_UNKNOWN", detail={"reference": reference})
                self.notifier.record(tx, Subject(DELETE, "manifest", repo, digest, tag=tag), origin)

            self.meta.write(untag)

    def delete_tag(self, repo: str, tag: str, origin: Origin | None = None) -> None:
        """Untag: the manifest stays (by digest, and under its other tags); MANIFEST_UNKNOWN if no such tag."""
        self.delete(repo, check_tag(tag), origin)

    def delete_tags(self, repo: str, tags: list[str], origin: Origin | None = None) -> list[str]:
        """Untag several tags in one unit of work, with an event each; those that were there (the others are skipped)."""
        checked = [check_tag(tag) for tag in tags]

        def untag(tx: MetaWriter) -> list[str]:
            done = []
            for tag in checked:
                digest = tx.tag_digest(repo, tag)
                if digest is not None and tx.delete_tag(repo, tag):
                    self.notifier.record(tx, Subject(DELETE, "manifest", repo, digest, tag=tag), origin)
                    done.append(tag)
            return done

        return self.meta.write(untag)

    def delete_repository(self, repo: str, origin: Origin | None = None) -> None:
        """Remove a repository with all its tags, manifests and blob links in one unit of work;
        NAME_UNKNOWN if it does not exist. Blobs and manifest bytes wait for garbage collection.
        Each manifest's delete is an event, as a delete by digest over /v2/ (its tags go with it)."""

        def change(tx: MetaWriter) -> None:
            for digest, row in list(tx.manifests_of(repo)):  # uncounted first, while their rows are there
                self.accounting.manifest_removed(tx, repo, digest, row)
                self.notifier.record(tx, Subject(DELETE, "manifest", repo, digest), origin)
            if not tx.delete_repository(repo):
                raise RegistryError("NAME_UNKNOWN", detail={"name": repo})

        self.meta.write(change)


def _lookup(reference: str) -> dict[str, str]:
    """How `find_manifest` is asked for `reference`: by digest or by tag (each checked)."""
    if looks_like_digest(reference):
        return {"digest": str(parse_digest(reference))}
    return {"tag": check_tag(reference)}

"""What a manifest or blob GET or HEAD reads, found in one consistent read of the metadata.

The old name of a moved repository answers pulls for the new one, so a GET needs the alias of
the name as well as the manifest or blob: a store on a database server reads both in one
statement (one round trip), LMDB in one snapshot through `find_manifest_in` and `find_blob_in`.
"""

from __future__ import annotations

from tinyreg.storage.interfaces import FoundBlob, FoundManifest, MetaReader


def find_manifest_in(tx: MetaReader, name: str, tag: str | None, digest: str | None) -> FoundManifest:
    """`MetaStore.find_manifest` through the calls of a snapshot."""
    alias = tx.alias(name)
    if tag is not None:
        digest = tx.tag_digest(name, tag)
    row = tx.manifest(name, digest) if digest else None
    if digest is None or row is None:
        return FoundManifest(alias, None, None, None)
    own = row.get("data")
    data = bytes(own) if own is not None else tx.manifest_data(digest)
    if data is None:
        return FoundManifest(alias, None, None, None)
    return FoundManifest(alias, digest, row["media_type"], data)


def find_blob_in(tx: MetaReader, name: str, digest: str) -> FoundBlob:
    """`MetaStore.find_blob` through the calls of a snapshot."""
    alias = tx.alias(name)
    link = tx.link(name, digest)
    if link is not None:
        return FoundBlob(alias, int(link["size"]), None)
    row = tx.manifest(name, digest)
    if row is None:
        return FoundBlob(alias, None, None)
    own = row.get("data")
    return FoundBlob(alias, None, bytes(own) if own is not None else tx.manifest_data(digest))

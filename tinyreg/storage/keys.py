"""Key builders for the LMDB sub-databases: the one place that knows the key layout.

Names and tags never contain NUL, so `repo\\0rest` keys sort by repository first and a
prefix scan over `repo\\0` lists exactly one repository's rows.
"""

from __future__ import annotations

SEP = b"\0"


def repo_prefix(repo: str) -> bytes:
    """Prefix shared by every key of one repository."""
    return repo.encode() + SEP


def repo_key(repo: str, item: str) -> bytes:
    """`repo\\0item`: a tag, a linked blob or a manifest of one repository."""
    return repo.encode() + SEP + item.encode()


def referrer_key(repo: str, subject: str, referrer: str) -> bytes:
    """`repo\\0subject\\0referrer`: one manifest whose `subject` is another."""
    return repo.encode() + SEP + subject.encode() + SEP + referrer.encode()


def split_last(key: bytes) -> str:
    """The last component of a key, decoded."""
    return key.rsplit(SEP, 1)[-1].decode()


def id_key(kind: str, number: int) -> bytes:
    """`kind\\0<number, 8 bytes big-endian>`: one entry of the id index (ids sort numerically)."""
    return kind.encode() + SEP + number.to_bytes(8, "big")


def child_prefix(path: str) -> bytes:
    """Prefix of every path below `path` (`path/`), for listing what a group holds."""
    return path.encode() + b"/"


#: The first byte of a usage key: lower case for counts per digest, upper case for totals.
USAGE_REFS = {"project": b"p", "repository": b"r"}
USAGE_TOTALS = {"project": b"P", "repository": b"R"}
STORED_BYTES = b"stored"


def usage_prefix(kind: str, owner: str) -> bytes:
    """`p\\0project\\0` (or `r\\0repo\\0`): every counted digest of one owner."""
    return USAGE_REFS[kind] + SEP + owner.encode() + SEP


def usage_total_key(kind: str, owner: str) -> bytes:
    """`P\\0project` (or `R\\0repo`): the total of one owner."""
    return USAGE_TOTALS[kind] + SEP + owner.encode()

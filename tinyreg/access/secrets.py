"""Password and token secrets: generated, hashed and checked.

Passwords get argon2id (slow and memory-hard, from libsodium through pynacl). Tokens are 32
random bytes, so a plain sha256 of them is a safe lookup key and needs no slow hash.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from functools import lru_cache

PERSONAL_PREFIX = "trp_"
DEPLOY_PREFIX = "trd_"


def hash_password(password: str) -> str:
    """An argon2id hash string of `password`."""
    import nacl.pwhash  # imported on first use: libsodium is not needed to serve without --auth

    return nacl.pwhash.argon2id.str(
        password.encode(), opslimit=nacl.pwhash.argon2id.OPSLIMIT_INTERACTIVE, memlimit=nacl.pwhash.argon2id.MEMLIMIT_INTERACTIVE
    ).decode()


@lru_cache(maxsize=1)
def _decoy_hash() -> bytes:
    return hash_password(secrets.token_urlsafe(16)).encode()


def verify_password(stored: str | None, password: str) -> bool:
    """True when `password` matches `stored`; costs the same time when there is no stored hash."""
    import nacl.exceptions
    import nacl.pwhash

    try:
        return nacl.pwhash.verify(stored.encode() if stored else _decoy_hash(), password.encode()) and stored is not None
    except nacl.exceptions.InvalidkeyError:
        return False


def new_token(prefix: str) -> str:
    """A fresh token secret, shown once to its owner."""
    return prefix + secrets.token_urlsafe(32)


def token_key(secret: str) -> bytes:
    """The lookup key under which a token secret is stored (its sha256, hex)."""
    return hashlib.sha256(secret.encode()).hexdigest().encode()


def same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())

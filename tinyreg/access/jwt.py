"""Ed25519-signed JSON Web Tokens (`alg: EdDSA`), and the keys that sign them.

Keys live in `<data>/keys/` as `<kid>.key` files (mode 0600) holding a 32-byte seed; `active`
names the signing key. `rotate` makes a new active key and marks the old one retired; a
retired key still verifies until every token it signed has expired. No token may live longer
than `max_token_age` (`exp - iat`), so that moment is known: `retired_at + max_token_age`
(plus the clock leeway), checked at each verification, not only when the keys are read.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nacl.exceptions
import nacl.signing

from tinyreg import b64
from tinyreg.storage import private

ALGORITHM = "EdDSA"
DEFAULT_LEEWAY = 30.0


class TokenError(ValueError):
    """A bearer token that must not be accepted, and why."""


def b64url(data: bytes) -> str:
    return b64.encode(data)


def b64url_decode(text: str) -> bytes:
    try:
        return b64.decode(text)
    except ValueError:
        raise TokenError("malformed token encoding") from None


def key_id(verify_key: nacl.signing.VerifyKey) -> str:
    """A short, stable id of a public key: the first 15 bytes of its sha256, base32."""
    return base64.b32encode(hashlib.sha256(bytes(verify_key)).digest()[:15]).decode()


class KeyRing:
    """The signing key and every key still accepted for verification."""

    def __init__(self, directory: Path, *, max_token_age: float, clock: Callable[[], float] = time.time) -> None:
        self.directory = directory
        self.max_token_age = max_token_age
        self.clock = clock
        private.make_dir(self.directory)
        if not (self.directory / "active").exists():
            self.rotate()
        self.reload()

    def reload(self) -> None:
        """Read the keys again: the active one, and every one still accepted."""
        active_file = self.directory / "active"
        self._active_mtime = active_file.stat().st_mtime_ns
        active = active_file.read_text().strip()
        self.signing_key = self._load(active)
        self.kid = active
        self.verify_keys: dict[str, nacl.signing.VerifyKey] = {}
        self.retired_at: dict[str, float] = {}
        now = self.clock()
        for path in self.directory.glob("*.key"):
            retired = path.with_suffix(".retired")
            if retired.exists() and path.stem != active:
                self.retired_at[path.stem] = float(retired.read_text())
                if self._expired(path.stem, now):
                    continue
            self.verify_keys[path.stem] = self._load(path.stem).verify_key

    def _expired(self, kid: str, now: float) -> bool:
        """Whether every token key `kid` signed has expired: it was retired longer ago than a token lives."""
        retired_at = self.retired_at.get(kid)
        return retired_at is not None and now - retired_at > self.max_token_age + DEFAULT_LEEWAY

    def _load(self, kid: str) -> nacl.signing.SigningKey:
        return nacl.signing.SigningKey((self.directory / f"{kid}.key").read_bytes())

    def rotate(self) -> str:
        """Create a new signing key; the previous one keeps verifying until its tokens expire."""
        key = nacl.signing.SigningKey.generate()
        kid = key_id(key.verify_key)
        path = self.directory / f"{kid}.key"
        fd = private.create_file(path)
        with os.fdopen(fd, "wb") as file:
            file.write(bytes(key))
        active = self.directory / "active"
        if active.exists():
            previous = active.read_text().strip()
            private.write_file(self.directory / f"{previous}.retired", str(self.clock()).encode())
        tmp = self.directory / "active.tmp"
        private.write_file(tmp, kid.encode())
        os.replace(tmp, active)
        if hasattr(self, "kid"):
            self.reload()
        return kid

    def _follow_rotation(self) -> None:
        """Pick up a rotation done by another process (`tinyreg keys rotate`)."""
        try:
            changed = (self.directory / "active").stat().st_mtime_ns != self._active_mtime
        except FileNotFoundError:
            return
        if changed:
            self.reload()

    def sign(self, claims: dict[str, Any]) -> str:
        self._follow_rotation()
        header = {"typ": "JWT", "alg": ALGORITHM, "kid": self.kid}
        signing_input = f"{b64url(json.dumps(header, separators=(',', ':')).encode())}.{b64url(json.dumps(claims, separators=(',', ':')).encode())}"
        signature = self.signing_key.sign(signing_input.encode()).signature
        return f"{signing_input}.{b64url(signature)}"

    def verify(
        self, token: str, *, audience: str, issuer: str, now: float | None = None, leeway: float = DEFAULT_LEEWAY
    ) -> dict[str, Any]:
        """The claims of a token this registry signed and that is valid now; TokenError otherwise."""
        parts = token.split(".")
        if len(parts) != 3:
            raise TokenError("a token has three parts")
        try:
            header = json.loads(b64url_decode(parts[0]))
            claims = json.loads(b64url_decode(parts[1]))
        except ValueError:
            raise TokenError("malformed token") from None
        if not isinstance(header, dict) or not isinstance(claims, dict):
            raise TokenError("malformed token")
        if header.get("alg") != ALGORITHM:
            raise TokenError(f"only {ALGORITHM} tokens are accepted")
        now = self.clock() if now is None else now
        # A stat per token: another process (`tinyreg keys rotate`) may have retired this key.
        self._follow_rotation()
        kid = str(header.get("kid"))
        verify_key = self.verify_keys.get(kid)
        if verify_key is None:
            raise TokenError("token signed by an unknown key")
        if self._expired(kid, now):
            raise TokenError("token signed by a key retired longer ago than any token lives")
        try:
            verify_key.verify(f"{parts[0]}.{parts[1]}".encode(), b64url_decode(parts[2]))
        except (nacl.exceptions.BadSignatureError, nacl.exceptions.ValueError, ValueError):
            raise TokenError("bad token signature") from None
        if not isinstance(claims.get("exp"), (int, float)) or now > claims["exp"] + leeway:
            raise TokenError("token expired")
        if not isinstance(claims.get("iat"), (int, float)) or claims["exp"] - claims["iat"] > self.max_token_age:
            raise TokenError("token lives longer than this registry allows")
        if claims["iat"] > now + leeway:
            raise TokenError("token issued in the future")
        if isinstance(claims.get("nbf"), (int, float)) and now + leeway < claims["nbf"]:
            raise TokenError("token not yet valid")
        audiences = claims.get("aud")
        if audience not in (audiences if isinstance(audiences, list) else [audiences]):
            raise TokenError("token is for another audience")
        if claims.get("iss") != issuer:
            raise TokenError("token from another issuer")
        return claims

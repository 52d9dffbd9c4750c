"""Unpadded base64url, as JOSE (JWS, JWT) writes it."""

from __future__ import annotations

import base64
import binascii


def encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def decode(text: str) -> bytes:
    """Decode unpadded base64url; ValueError if `text` is not that."""
    if not isinstance(text, str):
        raise ValueError("base64url text must be a string")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise ValueError("invalid base64url") from None

"""Database URLs: which settings name PostgreSQL, and how to show one without its password.

Kept apart from the connection code so that showing a URL does not import psycopg."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit


def is_postgresql_url(text: str) -> bool:
    return text.startswith(("postgresql://", "postgres://"))


def redact(url: str) -> str:
    """The URL without its password, for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user, _, host = parts.netloc.rpartition("@")
    return urlunsplit(parts._replace(netloc=f"{user.partition(':')[0]}:***@{host}"))

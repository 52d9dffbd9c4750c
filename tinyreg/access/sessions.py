"""Sessions and CSRF tokens of the web panel.

A session is a cookie holding claims signed by the registry's Ed25519 keys (the keys of its
registry tokens, with an audience of its own so neither kind passes for the other). It names
the user and either the credentials version of their password or the personal access token
used to sign in; every request looks the principal up again, so a changed password, a removed
user or a revoked token ends the session at once, in every worker. It expires after `IDLE`
without a request (renewed at most every `RENEW_AFTER`) and `MAX_AGE` after sign-in whatever.

Each session carries a random CSRF secret, rendered into every form and compared with the form
field on every POST. Before sign-in (the sign-in form; an open registry) the CSRF secret is a
random cookie of its own, compared the same way (double submit).
"""

from __future__ import annotations

import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tinyreg.access.jwt import TokenError
from tinyreg.access.policy import Principal

if TYPE_CHECKING:
    from tinyreg.access.control import AccessControl

SESSION_COOKIE = "tinyreg_session"
CSRF_COOKIE = "tinyreg_csrf"
CSRF_FIELD = "csrf_token"
AUDIENCE = "tinyreg-panel"
IDLE = 12 * 3600.0
MAX_AGE = 7 * 86400.0
RENEW_AFTER = 300.0


@dataclass(frozen=True, slots=True)
class Session:
    """A signed-in visitor: who, their CSRF secret, and when the cookie was signed."""

    principal: Principal
    csrf: str
    signed_at: float
    claims: dict[str, Any]


def new_secret() -> str:
    """A fresh random CSRF secret (256 bits)."""
    return secrets.token_urlsafe(32)


def same_secret(expected: str, given: str | None) -> bool:
    """Constant-time comparison of a CSRF secret with what a form sent."""
    return bool(expected) and given is not None and hmac.compare_digest(expected.encode(), given.encode())


class Sessions:
    """Issue and resume panel sessions for one access control."""

    def __init__(self, access: AccessControl, clock: Callable[[], float] = time.time) -> None:
        self.access = access
        self.clock = clock

    def open(self, principal: Principal) -> str:
        """The cookie value of a new session for `principal` (who just signed in)."""
        now = self.clock()
        claims = {**self.access.identity_claims(principal), "csrf": new_secret(), "auth_time": int(now)}
        return self._sign(claims, now)

    def _sign(self, claims: dict[str, Any], now: float) -> str:
        settings = self.access.settings
        claims = {**claims, "iss": settings.issuer, "aud": AUDIENCE, "iat": int(now), "exp": int(now + IDLE)}
        return self.access.keys.sign(claims)

    def resume(self, cookie: str | None) -> Session | None:
        """The session a cookie proves, or None (absent, forged, expired, its credentials gone)."""
        if not cookie:
            return None
        now = self.clock()
        try:
            claims = self.access.keys.verify(cookie, audience=AUDIENCE, issuer=self.access.settings.issuer, now=now)
        except TokenError:
            return None
        if not isinstance(claims.get("auth_time"), int) or now - claims["auth_time"] > MAX_AGE:
            return None
        if not isinstance(claims.get("csrf"), str):
            return None
        principal = self.access.current_principal(claims)
        if principal is None or principal.kind != "user":
            return None
        return Session(principal, claims["csrf"], float(claims["iat"]), claims)

    def renewed(self, session: Session) -> str | None:
        """A fresh cookie value for a session signed long enough ago (sliding expiry), else None."""
        now = self.clock()
        if now - session.signed_at < RENEW_AFTER:
            return None
        return self._sign(session.claims, now)

"""What every `/api/v4` resource works with: the registry, the access store, who is calling,
and the GitLab-shaped values (times, URLs, access levels) several resources share."""

from __future__ import annotations

import calendar
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from quart import request

from tinyreg.access.policy import ANONYMOUS, Principal
from tinyreg.access.store import AccessStore
from tinyreg.http.api.errors import ApiError, bad_request, unauthorized
from tinyreg.http.event_origin import origin_of_page
from tinyreg.registry.core import Registry
from tinyreg.registry.events import Origin
from tinyreg.registry.mirrors import Mirror

if TYPE_CHECKING:
    from tinyreg.access.control import AccessControl

#: GitLab's access levels and the roles they stand for.
ACCESS_LEVELS = {10: "guest", 20: "reporter", 30: "developer", 40: "maintainer", 50: "owner"}
LEVEL_OF_ROLE = {role: level for level, role in ACCESS_LEVELS.items()}
#: Who acts in an open registry (no --auth): anyone may do everything.
OPEN_REGISTRY_CALLER = Principal("user", "", admin=True)


class WebSettings(Protocol):
    """The part of the web app's context the API reads (kept structural, so `http.web` imports
    this package and not the other way round)."""

    @property
    def registry(self) -> Registry: ...
    @property
    def access(self) -> AccessControl | None: ...
    @property
    def external_url(self) -> str: ...
    @property
    def mirrors(self) -> tuple[Mirror, ...]: ...


def iso_time(stamp: float | None) -> str | None:
    """Epoch seconds as GitLab writes times: `2026-12-03T13:57:07.000Z`."""
    if stamp is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(stamp)) + f".{int(stamp % 1 * 1000):03d}Z"


def iso_date(stamp: float | None) -> str | None:
    return None if stamp is None else time.strftime("%Y-%m-%d", time.gmtime(stamp))


def parse_date(text: str | None, name: str) -> float | None:
    """A GitLab `YYYY-MM-DD` date (the end of that day, UTC) in epoch seconds, or None."""
    if not text:
        return None
    try:
        return calendar.timegm(time.strptime(text[:10], "%Y-%m-%d")) + 86400.0
    except ValueError:
        raise bad_request(f"{name} is invalid") from None


def token_secret(headers: Any) -> str | None:
    """The personal access token sent as `PRIVATE-TOKEN` or `Authorization: Bearer`, if any."""
    secret = headers.get("PRIVATE-TOKEN")
    if secret:
        return str(secret).strip()
    scheme, _, value = str(headers.get("Authorization", "")).partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


@dataclass
class ApiState:
    """The API's view of the web context, with the lookups every resource needs."""

    settings: WebSettings

    @property
    def registry(self) -> Registry:
        return self.settings.registry

    @property
    def store(self) -> AccessStore:
        access = self.settings.access
        return access.store if access is not None else AccessStore(self.settings.registry.meta)

    @property
    def open(self) -> bool:
        return self.settings.access is None

    def base_url(self) -> str:
        """The registry's external address (or the one this request came to), without a slash."""
        return (self.settings.external_url or request.host_url).rstrip("/")

    def registry_host(self) -> str:
        """`host[:port]`, as image references start (lower-case, as GitLab's image prefix)."""
        return self.base_url().split("://", 1)[-1].lower()

    def caller(self) -> Principal:
        """Who sent this request: a personal access token's user, or anonymous (401 for a token
        that is unknown, expired, revoked, or a deploy token, which GitLab's API refuses too)."""
        if self.open:
            return OPEN_REGISTRY_CALLER
        secret = token_secret(request.headers)
        if secret is None:
            return ANONYMOUS
        record = self.store.token_by_secret(secret)
        if record is None or record.kind != "personal" or not record.usable(time.time()):
            raise unauthorized()
        user = self.store.user(record.owner)
        if user is None:
            raise unauthorized()
        return Principal("user", record.owner, admin=bool(user["admin"]), scopes=frozenset(record.scopes), token_id=record.id)

    def signed_in(self) -> Principal:
        """The caller, who must not be anonymous (401 otherwise)."""
        principal = self.caller()
        if principal.kind == "anonymous":
            raise unauthorized()
        return principal


def origin_of_call(principal: Principal) -> Origin:
    """The origin of the events of this call's change: the request, and `principal` as the actor."""
    return origin_of_page(request.scope, principal.name)


def form_value(form: dict[str, Any], name: str, *, required: bool = False) -> Any:
    """A parameter of the body (JSON or form) or query; 400 `<name> is missing` when required."""
    value = form.get(name)
    if value is None:
        value = request.args.get(name)
    if required and (value is None or value == ""):
        raise bad_request(f"{name} is missing")
    return value


async def request_form() -> dict[str, Any]:
    """The request's parameters from its JSON body or its form (python-gitlab sends JSON)."""
    data = await request.get_json(force=True, silent=True)
    if isinstance(data, dict):
        return data
    form = await request.form
    return {key: form.getlist(key) if key.endswith("[]") else form[key] for key in form}


def integer(value: Any, name: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise bad_request(f"{name} is invalid") from None


__all__ = ["ApiError", "ApiState"]

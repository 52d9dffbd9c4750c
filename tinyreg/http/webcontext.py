"""What the pages and the API work with, in a module of its own so that the web app, the panel
and the API can all import it without importing each other."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from tinyreg.registry.core import Registry
from tinyreg.registry.mirrors import Mirror

if TYPE_CHECKING:
    from tinyreg.access.control import AccessControl


@dataclass(frozen=True)
class WebContext:
    """The registry, its access control (None: an open registry, where everyone may do
    everything) and its public address (empty: the address each request came to)."""

    registry: Registry
    access: AccessControl | None
    external_url: str = ""
    mirrors: tuple[Mirror, ...] = ()
    """The upstreams of the pull-through cache (their cached images are listed and purged by admins)."""

"""What the pages for people and the GitLab-shaped API share: everything outside `/v2/`.

The panel (`http/panel/`) and the API (`http/api/`) are blueprints of one Quart-Trio app (made
in `web_app.py`); both get the same `WebContext` and decide every action through the access
policy. This module holds only that context, so the blueprints can name its type without an
import cycle through the module that registers them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from tinyreg.registry.core import Registry

if TYPE_CHECKING:
    from tinyreg.access.control import AccessControl


@dataclass(frozen=True)
class WebContext:
    """What the pages and the API work with."""

    registry: Registry
    access: AccessControl | None  # None: an open registry (no --auth), where everyone may do everything
    external_url: str = ""  # the registry's public address; empty: the address each request came to

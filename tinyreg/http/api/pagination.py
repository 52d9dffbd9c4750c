"""GitLab's offset pagination: `page` and `per_page` in, the page and its headers out.

`X-Total`, `X-Total-Pages`, `X-Page`, `X-Per-Page`, `X-Next-Page`, `X-Prev-Page` (empty when
there is none) and a `Link` header with `prev`, `next`, `first` and `last`, which python-gitlab
follows to list every page.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlencode

from quart import Response

from tinyreg.http.api.errors import bad_request, json_response

T = TypeVar("T")
DEFAULT_PER_PAGE = 20
MAX_PER_PAGE = 100


@dataclass(frozen=True, slots=True)
class PageRequest:
    page: int
    per_page: int

    def slice(self, items: list[T]) -> list[T]:
        start = (self.page - 1) * self.per_page
        return items[start : start + self.per_page]


def _number(args: Mapping[str, str], name: str, default: int) -> int:
    value = args.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise bad_request(f"{name} is invalid") from None


def page_request(args: Mapping[str, str]) -> PageRequest:
    """The page asked for; as GitLab, a page below 1 is the first, per_page is 1 to 100."""
    page = max(1, _number(args, "page", 1))
    per_page = _number(args, "per_page", DEFAULT_PER_PAGE)
    return PageRequest(page, min(MAX_PER_PAGE, per_page if per_page >= 1 else DEFAULT_PER_PAGE))


def page_headers(base_url: str, args: Mapping[str, str], request: PageRequest, total: int) -> dict[str, str]:
    """The headers GitLab sends with a page of `total` rows; links keep the other query parameters."""
    pages = max(1, -(-total // request.per_page))
    next_page = request.page + 1 if request.page < pages else None
    prev_page = request.page - 1 if 1 < request.page <= pages else None

    def link(page: int) -> str:
        query = {**{k: v for k, v in args.items() if k not in ("page", "per_page")}, "page": page, "per_page": request.per_page}
        return f"{base_url}?{urlencode(query)}"

    links = [(prev_page, "prev"), (next_page, "next"), (1, "first"), (pages, "last")]
    return {
        "X-Total": str(total),
        "X-Total-Pages": str(pages),
        "X-Page": str(request.page),
        "X-Per-Page": str(request.per_page),
        "X-Next-Page": str(next_page or ""),
        "X-Prev-Page": str(prev_page or ""),
        "Link": ", ".join(f'<{link(page)}>; rel="{rel}"' for page, rel in links if page is not None),
    }


def paged_response(base_url: str, args: Mapping[str, str], request: PageRequest, rows: list[Any], total: int) -> Response:
    """One page of JSON rows (already cut to the page) with the pagination headers."""
    return json_response(rows, headers=page_headers(base_url, args, request, total))


def paged_list(base_url: str, args: Mapping[str, str], rows: list[Any]) -> Response:
    """The requested page of a complete list of JSON rows."""
    request = page_request(args)
    return paged_response(base_url, args, request, request.slice(rows), len(rows))

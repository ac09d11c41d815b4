"""Paging and cursors of every list endpoint: `page`/`limit` and `before`/`after` from a query string."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from core.db import MAX_ID
from core.errors import Invalid

MAX_LIMIT = 100
_POSITIVE = re.compile(r"[1-9][0-9]{0,8}")


@dataclass(frozen=True)
class PageRequest:
    page: int
    limit: int

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.limit


def _positive(query: Mapping[str, str], name: str, default: int, maximum: int | None) -> int:
    raw = query.get(name)
    if raw is None or raw == "":
        return default
    if not _POSITIVE.fullmatch(raw) or (maximum is not None and int(raw) > maximum):
        bound = f" between 1 and {maximum}" if maximum else " of at least 1"
        raise Invalid.field(name, f"must be a whole number{bound}.")
    return int(raw)


def page_request(query: Mapping[str, str], default_limit: int) -> PageRequest:
    """Read `page` (>= 1) and `limit` (1..100) from a query string, or raise Invalid (400)."""
    return PageRequest(
        page=_positive(query, "page", 1, None),
        limit=_positive(query, "limit", default_limit, MAX_LIMIT),
    )


def page_body(key: str, items: list[Any], total: int, request: PageRequest) -> dict[str, Any]:
    return {
        key: items,
        "total": total,
        "page": request.page,
        "limit": request.limit,
        "totalPages": math.ceil(total / request.limit) if total else 0,
    }


@dataclass(frozen=True)
class Page:
    items: list[Any]
    total: int


@dataclass(frozen=True)
class CursorPage:
    items: list[Any]
    has_more: bool


@dataclass(frozen=True)
class Cursor:
    before: int | None = None
    after: int | None = None


_ID = re.compile(r"[1-9][0-9]{0,18}")


def cursor_request(query: Mapping[str, str]) -> Cursor | None:
    """`?before=<id>` or `?after=<id>` (`after=0`: from the very first message, for a client that
    has none yet); both, or either with `page`, is a 400."""
    values: dict[str, int] = {}
    for name in ("before", "after"):
        raw = query.get(name)
        if raw is None:
            continue
        # ASCII digits only: str.isdigit() accepts superscripts and other scripts' digits, and int()
        # of thousands of digits raises.
        valid = _ID.fullmatch(raw) or (name == "after" and raw == "0")
        if not valid or int(raw) > MAX_ID:
            what = "a message id (a positive integer), or 0" if name == "after" else "a message id (a positive integer)"
            raise Invalid.field(name, f"Must be {what}.")
        values[name] = int(raw)
    if not values:
        return None
    if len(values) == 2:
        raise Invalid.field("before", "Use either before or after, not both.")
    if "page" in query:
        raise Invalid.field("page", "page cannot be combined with a before/after cursor.")
    return Cursor(**values)

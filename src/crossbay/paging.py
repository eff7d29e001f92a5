"""Newest-first lists paged by an opaque cursor: the (time, id) of the last item shown.

Time alone does not order items (two can share a microsecond), so the id breaks
the tie: a page boundary never skips or repeats one. The cursor is that pair,
base64-encoded; a cursor that does not decode is a 422 ``validation_failed`` on
the ``cursor`` field.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar, overload

from sqlalchemy import Select
from sqlalchemy.orm import InstrumentedAttribute

from crossbay.errors import FieldProblem, ValidationFailed

Cursor = tuple[datetime, str]
_S = TypeVar("_S", bound=Select[*tuple[Any, ...]])
_T = TypeVar("_T")


def encode_cursor(at: datetime, item_id: str) -> str:
    return base64.urlsafe_b64encode(f"{at.isoformat()}|{item_id}".encode()).decode()


@overload
def decode_cursor(cursor: str) -> Cursor: ...
@overload
def decode_cursor(cursor: None) -> None: ...
def decode_cursor(cursor: str | None) -> Cursor | None:
    """The cursor a client sent back (none: the first page)."""
    if cursor is None:
        return None
    try:
        at, item_id = base64.urlsafe_b64decode(cursor.encode()).decode().split("|", 1)
        moment = datetime.fromisoformat(at)
    except (ValueError, UnicodeDecodeError):
        raise ValidationFailed(errors=[FieldProblem("cursor", "invalid", "Unknown cursor")]) from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)), item_id


def split_page(found: Sequence[_T], limit: int, key: Callable[[_T], Cursor]) -> tuple[list[_T], str | None]:
    """``found`` was asked for ``limit + 1`` items: the page to show, and the cursor to the rest if any."""
    page = list(found[:limit])
    return page, encode_cursor(*key(page[-1])) if len(found) > limit else None


def newest_first(
    query: _S,
    at: InstrumentedAttribute[datetime],
    item_id: InstrumentedAttribute[str],
    *,
    before: Cursor | None,
    limit: int,
) -> _S:
    """``query`` ordered newest first by (``at``, ``item_id``), from just after ``before``."""
    if before is not None:
        seen_at, seen_id = before
        query = query.where((at < seen_at) | ((at == seen_at) & (item_id < seen_id)))
    return query.order_by(at.desc(), item_id.desc()).limit(limit)

"""Newest-first lists paged by an opaque cursor: the (time, id) of the last item shown.

Time alone does not order items (two can share a microsecond), so the id breaks
the tie: a page boundary never skips or repeats one. The cursor is that pair,
base64-encoded; a cursor that does not decode is a 422 ``validation_failed`` on
the ``cursor`` field.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import Select
from sqlalchemy.orm import InstrumentedAttribute

from crossbay.errors import FieldProblem, ValidationFailed

Cursor = tuple[datetime, str]
_S = TypeVar("_S", bound=Select[*tuple[Any, ...]])


def encode_cursor(at: datetime, item_id: str) -> str:
    return base64.urlsafe_b64encode(f"{at.isoformat()}|{item_id}".encode()).decode()


def decode_cursor(cursor: str) -> Cursor:
    try:
        at, item_id = base64.urlsafe_b64decode(cursor.encode()).decode().split("|", 1)
        moment = datetime.fromisoformat(at)
    except (ValueError, UnicodeDecodeError):
        raise ValidationFailed(errors=[FieldProblem("cursor", "invalid", "Unknown cursor")]) from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)), item_id


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

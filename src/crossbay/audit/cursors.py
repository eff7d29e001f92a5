"""Opaque page cursors: the (time, id) of the last item shown, newest-first lists."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

from crossbay.errors import FieldProblem, ValidationFailed


def encode_cursor(at: datetime, item_id: str) -> str:
    return base64.urlsafe_b64encode(f"{at.isoformat()}|{item_id}".encode()).decode()


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        at, item_id = base64.urlsafe_b64decode(cursor.encode()).decode().split("|", 1)
        moment = datetime.fromisoformat(at)
    except (ValueError, UnicodeDecodeError):
        raise ValidationFailed(errors=[FieldProblem("cursor", "invalid", "Unknown cursor")]) from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)), item_id

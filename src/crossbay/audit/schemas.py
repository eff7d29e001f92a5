from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field


class ActivityRead(BaseModel):
    id: str
    at: datetime
    action: str = Field(description="Stable code, e.g. signin.new_device, payment_pin.changed")
    actor: Literal["customer", "staff", "system"]
    ip: str | None
    device: str | None = Field(description="Coarse device label, e.g. 'Safari · iOS'")
    detail: str = Field(description="One line in the request's language")
    details: dict[str, Any] = Field(description="What changed: field names, and before/after of non-secrets")


class ActivityPage(BaseModel):
    items: list[ActivityRead]
    next_cursor: str | None

"""GET /api/v1/me/activity: who did what to this account."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from crossbay.api.auth import CurrentCustomer
from crossbay.api.deps import SessionDep
from crossbay.api.language import Language
from crossbay.audit import service, wording
from crossbay.audit.models import AuditEvent
from crossbay.audit.schemas import ActivityPage, ActivityRead
from crossbay.db import transaction
from crossbay.paging import decode_cursor, split_page

router = APIRouter(prefix="/api/v1", tags=["sign-in and account"])


def activity_read(event: AuditEvent, language: str) -> ActivityRead:
    actor = event.actor_kind if event.actor_kind in ("customer", "staff", "system") else "system"
    return ActivityRead(
        id=event.id,
        at=event.at,
        action=event.action,
        actor=actor,
        ip=event.ip,
        device=event.device,
        detail=wording.detail(event, language),
        details=dict(event.details or {}),  # the staff member's id (actor_id) stays in the back office
    )


@router.get("/me/activity", response_model=ActivityPage)
def my_activity(
    customer: CurrentCustomer,
    session: SessionDep,
    language: Language,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> ActivityPage:
    before = decode_cursor(cursor)
    with transaction(session):
        found = service.list_for_customer(session, customer_id=customer.id, limit=limit + 1, before=before)
    page, next_cursor = split_page(found, limit, lambda e: (e.at, e.id))
    return ActivityPage(items=[activity_read(e, language) for e in page], next_cursor=next_cursor)

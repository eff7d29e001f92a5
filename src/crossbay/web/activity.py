"""The customer's account activity page: who did what to this account, newest first."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response

from crossbay.api.deps import SessionDep
from crossbay.audit import service as audit
from crossbay.audit import wording
from crossbay.db import transaction
from crossbay.paging import decode_cursor, split_page
from crossbay.web.pages import CustomerDep, PageDep, PageRoute

router = APIRouter(route_class=PageRoute)

PER_PAGE = 20
ACTORS = {"customer": "You", "staff": "Support staff", "system": "crossbay"}


@dataclass(frozen=True)
class ActivityView:
    at: datetime
    title: str
    specifics: str | None
    actor: str
    ip: str | None
    device: str | None


@router.get("/account/activity")
def activity_page(
    page: PageDep,
    customer: CustomerDep,
    session: SessionDep,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    before = decode_cursor(cursor)
    with transaction(session):
        found = audit.list_for_customer(session, customer_id=customer.id, limit=PER_PAGE + 1, before=before)
    shown, older = split_page(found, PER_PAGE, lambda e: (e.at, e.id))
    items = [
        ActivityView(
            at=event.at,
            title=wording.title(event, page.language),
            specifics=wording.specifics(event, page.language),
            actor=page._(ACTORS.get(event.actor_kind, ACTORS["system"])),
            ip=event.ip,
            device=event.device,
        )
        for event in shown
    ]
    return page.render("activity.html", items=items, older=older, first_page=cursor is None)

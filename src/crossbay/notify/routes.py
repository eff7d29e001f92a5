"""/api/v1/me/notifications, /api/v1/me/reminders and /api/v1/me/email."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from crossbay.api.auth import CurrentCustomer
from crossbay.api.deps import RuntimeDep, SessionDep
from crossbay.api.language import Language
from crossbay.api.schemas import MoneyRead
from crossbay.audit.http import origin_of
from crossbay.db import transaction
from crossbay.money import Money
from crossbay.notify import messages, reminders, service
from crossbay.notify.models import Notification
from crossbay.notify.preferences import Preferences, preferences_of
from crossbay.notify.schemas import (
    EmailRead,
    EmailUpdate,
    NotificationPage,
    NotificationRead,
    RemindersRead,
    RemindersUpdate,
)
from crossbay.paging import decode_cursor, split_page

router = APIRouter(prefix="/api/v1", tags=["notifications and reminders"])


def notification_read(item: Notification, language: str) -> NotificationRead:
    title, body = messages.render(item.kind, item.values, language)
    return NotificationRead(
        id=item.id, at=item.at, kind=item.kind, title=title, body=body, read=item.read_at is not None
    )


def _reminders_read(prefs: Preferences, language: str) -> RemindersRead:
    return RemindersRead(
        low_data_percent=prefs.low_data_percent,
        expiry_days_before=prefs.expiry_days_before,
        low_balance=MoneyRead.of(prefs.low_balance, language),
        channels=list(prefs.channels),
    )


@router.get("/me/notifications", response_model=NotificationPage)
def my_notifications(
    customer: CurrentCustomer,
    session: SessionDep,
    language: Language,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> NotificationPage:
    """The in-app inbox, newest first, in the request's language."""
    before = decode_cursor(cursor)
    with transaction(session):
        found = service.list_notifications(session, customer_id=customer.id, limit=limit + 1, before=before)
        unread = service.unread_count(session, customer_id=customer.id)
    page, next_cursor = split_page(found, limit, lambda n: (n.at, n.id))
    return NotificationPage(
        items=[notification_read(n, language) for n in page], next_cursor=next_cursor, unread_count=unread
    )


@router.post("/me/notifications/{notification_id}/read", response_model=NotificationRead)
def read_notification(
    notification_id: str,
    customer: CurrentCustomer,
    session: SessionDep,
    runtime: RuntimeDep,
    language: Language,
) -> NotificationRead:
    with transaction(session):
        found = service.mark_read(
            session, customer_id=customer.id, notification_id=notification_id, now=runtime.clock.now()
        )
        return notification_read(found, language)


@router.post("/me/notifications/read-all", status_code=204)
def read_all_notifications(customer: CurrentCustomer, session: SessionDep, runtime: RuntimeDep) -> Response:
    with transaction(session):
        service.mark_all_read(session, customer_id=customer.id, now=runtime.clock.now())
    return Response(status_code=204)


@router.get("/me/reminders", response_model=RemindersRead)
def my_reminders(customer: CurrentCustomer, session: SessionDep, language: Language) -> RemindersRead:
    with transaction(session):
        prefs = preferences_of(session, customer.id)
    return _reminders_read(prefs, language)


@router.put("/me/reminders", response_model=RemindersRead)
def set_reminders(
    body: RemindersUpdate,
    customer: CurrentCustomer,
    session: SessionDep,
    runtime: RuntimeDep,
    language: Language,
) -> RemindersRead:
    """Thresholds and channels; email needs an address (PUT /api/v1/me/email) to be used."""
    with transaction(session):
        prefs = reminders.update_preferences(
            session,
            customer=customer,
            low_data_percent=body.low_data_percent,
            expiry_days_before=body.expiry_days_before,
            low_balance=Money(body.low_balance.amount, body.low_balance.currency),
            channels=body.channels,
            now=runtime.clock.now(),
        )
    return _reminders_read(prefs, language)


@router.put("/me/email", response_model=EmailRead)
def set_email(
    body: EmailUpdate, request: Request, customer: CurrentCustomer, session: SessionDep, runtime: RuntimeDep
) -> EmailRead:
    """The address reminders are emailed to (optional; null removes it). Changes show in the activity."""
    with transaction(session):
        session.add(customer)
        email = service.set_email(
            session,
            customer=customer,
            email=body.email,
            now=runtime.clock.now(),
            origin=origin_of(request, runtime.settings),
        )
    return EmailRead(email=email)

"""Pages for the in-app inbox, reminder settings and an eSIM's auto-renew; all work without JavaScript."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Form, Query
from fastapi.responses import Response
from sqlalchemy.orm import Session

from crossbay.api.deps import SessionDep
from crossbay.audit.http import origin_of
from crossbay.catalog import service as catalog
from crossbay.db import transaction
from crossbay.errors import CrossbayError
from crossbay.esim import service as esims
from crossbay.identity.models import Customer
from crossbay.money import Money
from crossbay.notify import auto_renew, messages, reminders, service
from crossbay.notify.preferences import CHANNELS, EXPIRY_DAYS_RANGE, Preferences, preferences_of
from crossbay.paging import decode_cursor, split_page
from crossbay.web.pages import CsrfChecked, CustomerDep, PageDep, PageRoute, problem_text, redirect
from crossbay.web.rendering import Page
from crossbay.web.views import package_view

router = APIRouter(route_class=PageRoute)

PER_PAGE = 20
SAVED = "Saved."
AUTO_RENEW_ON = "Auto-renew is on."
AUTO_RENEW_OFF = "Auto-renew is off."
ENTER_PIN = "Enter your 6-digit payment PIN"
ENTER_WHOLE_DOLLARS = "Enter an amount in whole Hong Kong dollars"
LOW_DATA_CHOICES = (10, 15, 20, 25, 30, 40, 50)
PAGE_MESSAGES = (SAVED, AUTO_RENEW_ON, AUTO_RENEW_OFF, ENTER_PIN, ENTER_WHOLE_DOLLARS)


@dataclass(frozen=True)
class NotificationView:
    id: str
    at: datetime
    kind: str
    title: str
    body: str
    read: bool


@router.get("/notifications")
def notifications_page(
    page: PageDep,
    customer: CustomerDep,
    session: SessionDep,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    before = decode_cursor(cursor)
    with transaction(session):
        found = service.list_notifications(
            session, customer_id=customer.id, limit=PER_PAGE + 1, before=before
        )
        unread = service.unread_count(session, customer_id=customer.id)
    shown, older = split_page(found, PER_PAGE, lambda n: (n.at, n.id))
    items = []
    for item in shown:
        title, body = messages.render(item.kind, item.values, page.language)
        items.append(NotificationView(item.id, item.at, item.kind, title, body, item.read_at is not None))
    return page.render(
        "notifications.html", items=items, unread=unread, older=older, first_page=cursor is None
    )


@router.post("/notifications/{notification_id}/read", dependencies=[CsrfChecked])
def mark_read(notification_id: str, page: PageDep, customer: CustomerDep, session: SessionDep) -> Response:
    with transaction(session):
        service.mark_read(
            session, customer_id=customer.id, notification_id=notification_id, now=page.runtime.clock.now()
        )
    return redirect(f"/notifications#n-{notification_id}")


@router.post("/notifications/read-all", dependencies=[CsrfChecked])
def mark_all_read(page: PageDep, customer: CustomerDep, session: SessionDep) -> Response:
    with transaction(session):
        service.mark_all_read(session, customer_id=customer.id, now=page.runtime.clock.now())
    return redirect("/notifications")


# --- reminder settings ----------------------------------------------------------------------------


def _reminders_form(
    page: Page,
    prefs: Preferences,
    email: str | None,
    *,
    low_balance: str | None = None,
    errors: dict[str, str] | None = None,
    saved: bool = False,
    status: int = 200,
) -> Response:
    return page.render(
        "reminders.html",
        status=status,
        prefs=prefs,
        low_balance_dollars=low_balance if low_balance is not None else prefs.low_balance.amount // 100,
        email=email or "",
        low_data_choices=LOW_DATA_CHOICES,
        expiry_choices=range(EXPIRY_DAYS_RANGE[0], EXPIRY_DAYS_RANGE[1] + 1),
        channels=CHANNELS,
        errors=errors or {},
        notice=page._(SAVED) if saved else None,
    )


@router.get("/account/reminders")
def reminders_page(
    page: PageDep,
    customer: CustomerDep,
    session: SessionDep,
    saved: Annotated[str | None, Query(max_length=4)] = None,
) -> Response:
    with transaction(session):
        prefs = preferences_of(session, customer.id)
        email = customer.email
    return _reminders_form(page, prefs, email, saved=saved == "1")


@router.post("/account/reminders", dependencies=[CsrfChecked])
def save_reminders(
    page: PageDep,
    customer: CustomerDep,
    session: SessionDep,
    low_data_percent: Annotated[int, Form()] = 20,
    expiry_days_before: Annotated[int, Form()] = 1,
    low_balance: Annotated[str, Form(max_length=12)] = "",
    channel: Annotated[list[str] | None, Form()] = None,
    email: Annotated[str, Form(max_length=320)] = "",
) -> Response:
    """Thresholds, channels and the email address in one form; every field's problem shown beside it."""
    chosen = [c for c in CHANNELS if c in (channel or [])]
    errors: dict[str, str] = {}
    dollars = low_balance.strip().removeprefix("HK$").replace(",", "") or "0"
    if not dollars.isascii() or not dollars.isdigit() or len(dollars) > 7:
        errors["low_balance"] = page._(ENTER_WHOLE_DOLLARS)
    amount = int(dollars) * 100 if not errors else 0
    if email.strip():
        try:
            service.normalize_email(email)
        except CrossbayError as error:  # shown with the other fields' problems, not one at a time
            errors["email"] = problem_text(page, error)
    runtime, now = page.runtime, page.runtime.clock.now()
    try:
        with transaction(session):
            session.add(customer)
            if not errors:
                service.set_email(
                    session,
                    customer=customer,
                    email=email.strip() or None,
                    now=now,
                    origin=origin_of(page.request, runtime.settings),
                )
                reminders.update_preferences(
                    session,
                    customer=customer,
                    low_data_percent=low_data_percent,
                    expiry_days_before=expiry_days_before,
                    low_balance=Money(amount, "HKD"),
                    channels=chosen,
                    now=now,
                )
    except CrossbayError as error:
        errors |= {p.field: page._(p.message) for p in error.errors} or {"form": problem_text(page, error)}
    if errors:
        attempted = Preferences(low_data_percent, expiry_days_before, Money(amount, "HKD"), tuple(chosen))
        return _reminders_form(page, attempted, email, low_balance=low_balance, errors=errors, status=422)
    return redirect("/account/reminders?saved=1")


# --- auto-renew -----------------------------------------------------------------------------------


def _auto_renew_form(
    page: Page,
    session: Session,
    customer: Customer,
    esim_id: str,
    *,
    error: str | None = None,
    notice: str | None = None,
    status: int = 200,
) -> Response:
    with transaction(session):
        esim = esims.get_owned_esim(session, customer_id=customer.id, esim_id=esim_id)
        offered = [package_view(p, page.language) for p in catalog.list_packages(session, purpose="topup")]
        current = esim.auto_renew_package_id
        has_pin = customer.payment_pin_hash is not None
        can_top_up = esim.status in esims.TOPUP_ALLOWED
    label = f"···· {esim.iccid[-4:]}" if esim.iccid else ""
    return page.render(
        "auto_renew.html",
        status=status,
        esim_id=esim_id,
        label=label,
        packages=offered,
        current=current,
        has_pin=has_pin,
        can_top_up=can_top_up,
        error=error,
        notice=notice,
    )


@router.get("/esims/{esim_id}/auto-renew")
def auto_renew_page(
    esim_id: str,
    page: PageDep,
    customer: CustomerDep,
    session: SessionDep,
    done: Annotated[str | None, Query(max_length=4)] = None,
) -> Response:
    notice = {"on": AUTO_RENEW_ON, "off": AUTO_RENEW_OFF}.get(done or "")
    return _auto_renew_form(page, session, customer, esim_id, notice=page._(notice) if notice else None)


@router.post("/esims/{esim_id}/auto-renew", dependencies=[CsrfChecked])
def save_auto_renew(
    esim_id: str,
    page: PageDep,
    customer: CustomerDep,
    session: SessionDep,
    package_id: Annotated[str, Form(max_length=40)] = "",
    pin: Annotated[str, Form(max_length=16)] = "",
) -> Response:
    """Choosing a pack needs the payment PIN (a standing instruction); turning it off needs nothing."""
    wanted = package_id or None
    if wanted is not None and not pin.strip():
        return _auto_renew_form(page, session, customer, esim_id, error=page._(ENTER_PIN), status=422)
    runtime = page.runtime
    try:
        with transaction(session):
            session.add(customer)
            auto_renew.set_auto_renew(
                session,
                customer=customer,
                esim_id=esim_id,
                package_id=wanted,
                pin=pin.strip() or None,
                password=None,
                settings=runtime.settings,
                now=runtime.clock.now(),
                origin=origin_of(page.request, runtime.settings),
            )
    except CrossbayError as error:
        if error.status == 404:
            raise
        return _auto_renew_form(
            page, session, customer, esim_id, error=problem_text(page, error), status=error.status
        )
    return redirect(f"/esims/{esim_id}/auto-renew?done={'on' if wanted else 'off'}")

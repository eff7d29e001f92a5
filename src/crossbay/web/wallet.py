"""The wallet: balance and entries, top-ups through a provider's cashier, paying an order with the PIN."""

from __future__ import annotations

import json
import math
import re
import uuid
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from crossbay.api.deps import SessionDep
from crossbay.api.idempotency import idempotent, request_fingerprint
from crossbay.db import transaction
from crossbay.errors import CrossbayError, FieldProblem, NotFound, ValidationFailed
from crossbay.i18n import localized
from crossbay.identity import pins
from crossbay.identity.models import Customer
from crossbay.ledger import service as ledger
from crossbay.money import Money
from crossbay.orders import service as orders
from crossbay.orders import states
from crossbay.orders.errors import OrderNotPayable
from crossbay.payments import service as payments
from crossbay.payments import wallet
from crossbay.payments.checkout import open_checkout
from crossbay.web.checkout import checkout_url
from crossbay.web.messages import CHOOSE_PAYMENT_METHOD, ENTER_AMOUNT, ENTER_PIN, PIN_LOCKED, PIN_TRIES_LEFT
from crossbay.web.pages import (
    CsrfChecked,
    CustomerDep,
    PageDep,
    PageRoute,
    clean_return,
    error_title,
    redirect,
)
from crossbay.web.rendering import Page
from crossbay.web.security import safe_next
from crossbay.web.views import PROVIDER_METHODS, wallet_entry_view

router = APIRouter(route_class=PageRoute)

RECENT_ENTRIES = 10
PRESET_DOLLARS = (100, 200, 500, 1000)
DEFAULT_DOLLARS = 200
# The page makes the key; anything else in the field was not made by us.
_KEY = re.compile(r"[0-9a-f]{32}")
_PIN = re.compile(r"[0-9]{6}")
_DOLLARS = re.compile(r"[0-9]{1,7}")
# A top-up waits for the provider's notification, normally a second or two after the cashier.
TOPUP_REFRESH_SECONDS = 2


# --- the wallet page and its top-up form ---------------------------------------------------------


def _dollars(amount: int) -> int:
    return amount // 100  # HKD has two minor digits; the limits are whole dollars


def _wallet_page(
    page: Page,
    session: Session,
    customer: Customer,
    *,
    values: dict[str, str],
    errors: dict[str, str],
    error: str | None,
    topup_id: str | None,
    next_path: str | None,
    status: int = 200,
) -> Response:
    settings = page.runtime.settings
    with transaction(session):
        balance = wallet.balance(session, customer.id)
        found = ledger.entries_of(session, wallet.account_of(customer.id), limit=RECENT_ENTRIES)
        topup = None
        if topup_id is not None:
            try:
                topup = wallet.get_owned_topup(session, customer_id=customer.id, topup_id=topup_id)
            except NotFound:
                topup = None  # an old or foreign link: show the wallet without it
        preferred = customer.preferred_payment_method
    low, high = _dollars(settings.wallet_topup_min), _dollars(settings.wallet_topup_max)
    presets = [d for d in PRESET_DOLLARS if low <= d <= high]
    waiting = topup is not None and topup.status == wallet.PENDING_PAYMENT
    return page.render(
        "wallet.html",
        status=status,
        balance=page.money(balance),
        entries=[wallet_entry_view(e, at=page.when(e.at), language=page.language) for e, _ in found],
        topup=topup,
        topup_amount=page.money(Money(topup.amount, topup.currency)) if topup else None,
        refresh=TOPUP_REFRESH_SECONDS if waiting else None,
        presets=[(d, page.money(Money(d * 100, wallet.CURRENCY))) for d in presets],
        lowest=page.money(Money(settings.wallet_topup_min, wallet.CURRENCY)),
        highest=page.money(Money(settings.wallet_topup_max, wallet.CURRENCY)),
        monthly=page.money(Money(settings.wallet_topup_monthly_max, wallet.CURRENCY)),
        methods=PROVIDER_METHODS,
        values={
            "amount": str(DEFAULT_DOLLARS) if DEFAULT_DOLLARS in presets else "other",
            "method": preferred if preferred in PROVIDER_METHODS else "card",
            **values,
        },
        errors=errors,
        error=error,
        key=uuid.uuid4().hex,
        next=next_path,
    )


@router.get("/wallet")
def wallet_page(
    page: PageDep,
    customer: CustomerDep,
    session: SessionDep,
    topup: Annotated[str | None, Query(max_length=64)] = None,
    next: Annotated[str | None, Query()] = None,
) -> Response:
    if (clean := clean_return(page.request, "topup", "next")) is not None:
        return clean
    return _wallet_page(
        page, session, customer, values={}, errors={}, error=None, topup_id=topup, next_path=safe_next(next)
    )


def _topup_amount(choice: str, other: str) -> Money:
    """A preset or the customer's own whole-dollar amount; the limits are the use case's to check."""
    text = other.strip() if choice == "other" else choice
    if not _DOLLARS.fullmatch(text):
        raise ValidationFailed(errors=[FieldProblem("amount", "invalid", ENTER_AMOUNT)])
    return Money(int(text) * 100, wallet.CURRENCY)


@router.post("/wallet/topups", dependencies=[CsrfChecked])
def top_up_wallet(
    request: Request,
    page: PageDep,
    customer: CustomerDep,
    session: SessionDep,
    amount: Annotated[str, Form(max_length=16)] = "",
    other_amount: Annotated[str, Form(max_length=16)] = "",
    method: Annotated[str, Form(max_length=16)] = "",
    key: Annotated[str, Form(max_length=64)] = "",
    next: Annotated[str, Form(max_length=512)] = "",
) -> Response:
    """Start a top-up once per rendered wallet page, however often it is sent, and go to the cashier."""
    runtime, customer_id, next_path = page.runtime, customer.id, safe_next(next)
    values = {"amount": amount, "other_amount": other_amount, "method": method}
    try:
        if not _KEY.fullmatch(key):
            raise ValidationFailed(
                errors=[FieldProblem("key", "invalid", "top-up form was not made by this site")]
            )
        if method not in PROVIDER_METHODS:
            raise ValidationFailed(errors=[FieldProblem("method", "invalid_choice", CHOOSE_PAYMENT_METHOD)])
        money = _topup_amount(amount, other_amount)
        back = f"{runtime.settings.base_url.rstrip('/')}/wallet?"

        def work() -> tuple[int, dict[str, object]]:
            settings, now = runtime.settings, runtime.clock.now()
            with runtime.sessions() as work_session, transaction(work_session):
                topup, payment = wallet.start_topup(
                    work_session,
                    customer_id=customer_id,
                    amount=money,
                    method=method,
                    settings=settings,
                    now=now,
                )
            query = {"topup": topup.id, **({"next": next_path} if next_path else {})}
            open_checkout(
                runtime,
                payment_id=payment.id,
                description="crossbay stored value",
                return_url=back + urlencode(query),
            )
            return 201, {"topup_id": topup.id}

        answer = idempotent(
            runtime,
            scope=customer_id,
            # As at checkout: back on the page, another amount or method is another top-up.
            key=f"web:{key}:{method}:{money.amount}",
            work=work,
            fingerprint=request_fingerprint(request.url.path, {"amount": money.amount, "method": method}),
        )
    except CrossbayError as failure:
        errors = {p.field: page._(p.message) for p in failure.errors if p.field in ("amount", "method")}
        return _wallet_page(
            page,
            session,
            customer,
            values=values,
            errors=errors,
            error=None if errors else error_title(page, failure.code),
            topup_id=None,
            next_path=next_path,
            status=failure.status,
        )
    topup_id = str(json.loads(bytes(answer.body))["topup_id"])
    with transaction(session):
        topup = wallet.get_owned_topup(session, customer_id=customer_id, topup_id=topup_id)
        payment = payments.latest_topup_payment(session, topup.id)
    if topup.status == wallet.PENDING_PAYMENT and payment is not None and payment.redirect_url:
        return redirect(payment.redirect_url)
    return redirect("/wallet?" + urlencode({"topup": topup_id}))


# --- paying an order from the wallet ---------------------------------------------------------------


def _pin_page(
    page: Page,
    session: Session,
    customer: Customer,
    order_id: str,
    *,
    error: str | None = None,
    status: int = 200,
) -> Response:
    with transaction(session):
        order = orders.get_owned_order(session, customer_id=customer.id, order_id=order_id)
        if order.status != states.PENDING_PAYMENT or order.payment_method != wallet.WALLET:
            # Paid meanwhile (another tab), expired, or a cashier order: its own page says what is next.
            return redirect(f"/orders/{order.id}")
        balance = wallet.balance(session, customer.id)
        has_pin = customer.payment_pin_hash is not None
        total = Money(order.total, order.currency)
        description = localized(order.lines[0].descriptions, page.language) if order.lines else order.id
        other_way = checkout_url(order.package_id, order.esim_id)
    here = f"/orders/{order_id}/pay"
    return page.render(
        "pay_pin.html",
        status=status,
        order_id=order_id,
        description=description,
        total=page.money(total),
        balance=page.money(balance),
        short=balance.currency != total.currency or balance.amount < total.amount,
        has_pin=has_pin,
        error=error,
        top_up_url="/wallet?" + urlencode({"next": here}),
        set_pin_url="/account/pin?" + urlencode({"next": here}),
        other_way=other_way,
    )


@router.get("/orders/{order_id}/pay")
def pin_page(order_id: str, page: PageDep, customer: CustomerDep, session: SessionDep) -> Response:
    return _pin_page(page, session, customer, order_id)


def _pin_problem(page: Page, error: CrossbayError, customer: Customer) -> str:
    title = error_title(page, error.code)
    if isinstance(error, pins.InvalidPin):
        # The wrong try was committed with the customer row: its count is the current one.
        locked_until = customer.payment_pin_locked_until
        if locked_until is None or locked_until <= page.runtime.clock.now():
            left = pins.PIN_MAX_FAILURES - customer.payment_pin_failures
            return page._(PIN_TRIES_LEFT, title=title, left=left)
        error = pins.PinLocked(retry_after=int(pins.PIN_LOCK.total_seconds()))  # this try locked it
    if isinstance(error, pins.PinLocked) and error.retry_after is not None:
        return page._(PIN_LOCKED, minutes=math.ceil(error.retry_after / 60))
    return title


@router.post("/orders/{order_id}/pay", dependencies=[CsrfChecked])
def pay_with_pin(
    order_id: str,
    page: PageDep,
    customer: CustomerDep,
    session: SessionDep,
    pin: Annotated[str, Form(max_length=16)] = "",
) -> Response:
    """Pay from the wallet after the PIN; the PIN goes no further than this form's body."""
    digits = pin.strip()
    if not _PIN.fullmatch(digits):
        return _pin_page(page, session, customer, order_id, error=page._(ENTER_PIN), status=422)
    runtime = page.runtime
    try:
        with transaction(session):
            orders.pay_with_wallet(
                session,
                customer=customer,
                order_id=order_id,
                pin=digits,
                settings=runtime.settings,
                now=runtime.clock.now(),
            )
    except OrderNotPayable:
        return redirect(f"/orders/{order_id}")
    except CrossbayError as error:
        with transaction(session):  # a refusal that rolled back left the customer to be read again
            problem = _pin_problem(page, error, customer)
        return _pin_page(page, session, customer, order_id, error=problem, status=error.status)
    return redirect(f"/orders/{order_id}")

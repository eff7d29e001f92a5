"""/api/v1/orders: quote, create (idempotent), pay, cancel, read, list."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from crossbay.api.auth import CurrentCustomer
from crossbay.api.deps import ClockDep, RuntimeDep, SessionDep, SettingsDep
from crossbay.api.idempotency import check_key, idempotent_json_post
from crossbay.api.language import Language
from crossbay.api.schemas import MoneyRead
from crossbay.db import transaction
from crossbay.i18n import localized
from crossbay.money import Money
from crossbay.orders import checkout, service, states
from crossbay.orders.models import Order
from crossbay.orders.schemas import (
    LineRead,
    NextAction,
    OrderCreate,
    OrderPage,
    OrderRead,
    PaymentRead,
    PayRequest,
    QuoteRead,
    QuoteRequest,
    TimelineEntry,
)
from crossbay.paging import decode_cursor, split_page
from crossbay.payments import service as payments
from crossbay.payments.models import Payment
from crossbay.payments.wallet import WALLET
from crossbay.support import service as support
from crossbay.support.schemas import SupportRead
from crossbay.support.views import support_read

router = APIRouter(prefix="/api/v1", tags=["orders"])

IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=255)]


def order_read(
    order: Order, payment: Payment | None, language: str, support: SupportRead | None = None
) -> OrderRead:
    def money(amount: int) -> MoneyRead:
        return MoneyRead.of(Money(amount, order.currency), language)

    next_action = None
    if order.status == states.PENDING_PAYMENT and order.payment_method == WALLET:
        next_action = NextAction(type="pin_required")
    elif order.status == states.PENDING_PAYMENT and payment is not None and payment.redirect_url:
        next_action = NextAction(type="redirect", url=payment.redirect_url)
    return OrderRead(
        id=order.id,
        status=order.status,
        kind=order.kind,
        lines=[
            LineRead(
                kind=line.kind,
                description=localized(line.descriptions, language),
                amount=money(line.amount),
            )
            for line in order.lines
        ],
        subtotal=money(order.subtotal),
        discount=money(order.discount),
        total=money(order.total),
        payment_method=order.payment_method,
        payment=PaymentRead(provider=payment.provider, reference=payment.reference, status=payment.status)
        if payment
        else None,
        esim_id=order.esim_id,
        package_id=order.package_id,
        next_action=next_action,
        timeline=[TimelineEntry(status=e.status, at=e.at, step=e.step) for e in order.events],
        created_at=order.created_at,
        expires_at=order.expires_at,
        support=support,
    )


def read_owned_order(session: Session, *, customer_id: str, order_id: str, language: str) -> OrderRead:
    with transaction(session):
        order = service.get_owned_order(session, customer_id=customer_id, order_id=order_id)
        payment = payments.latest_payments(session, [order.id]).get(order.id)
        ticket = support.support_for_orders(session, [order.id]).get(order.id)
        return order_read(order, payment, language, support_read(ticket))


@router.post("/orders/quote", response_model=QuoteRead)
def quote(
    body: QuoteRequest, customer: CurrentCustomer, session: SessionDep, clock: ClockDep, language: Language
) -> QuoteRead:
    with transaction(session):
        priced = service.quote(
            session,
            customer_id=customer.id,
            package_id=body.package_id,
            esim_id=body.esim_id,
            currency=body.currency,
            coupon_code=body.coupon_code,
            now=clock.now(),
        )
    return QuoteRead(
        lines=[
            LineRead(
                kind=line.kind,
                description=localized(line.descriptions, language),
                amount=MoneyRead.of(line.amount, language),
            )
            for line in priced.lines
        ],
        subtotal=MoneyRead.of(priced.subtotal, language),
        discount=MoneyRead.of(priced.discount, language),
        total=MoneyRead.of(priced.total, language),
    )


@router.post("/orders", status_code=201, response_model=OrderRead)
def create_order(
    body: OrderCreate,
    request: Request,
    customer: CurrentCustomer,
    runtime: RuntimeDep,
    settings: SettingsDep,
    language: Language,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    key = check_key(idempotency_key, required=True)

    def work() -> tuple[int, dict[str, object]]:
        with runtime.sessions() as session, transaction(session):
            order = service.place_order(
                session,
                customer_id=customer.id,
                package_id=body.package_id,
                esim_id=body.esim_id,
                payment_method=body.payment_method,
                settings=settings,
                now=runtime.clock.now(),
                currency=body.currency,
                coupon_code=body.coupon_code,
            )
        checkout.open_cashier(runtime, customer_id=customer.id, order_id=order.id, return_url=body.return_url)
        with runtime.sessions() as session:
            read = read_owned_order(session, customer_id=customer.id, order_id=order.id, language=language)
        return 201, read.model_dump(mode="json")

    return idempotent_json_post(runtime, request, body, scope=customer.id, key=key, work=work)


@router.post("/orders/{order_id}/pay", response_model=OrderRead)
def pay_order(
    order_id: str,
    customer: CurrentCustomer,
    runtime: RuntimeDep,
    session: SessionDep,
    language: Language,
    body: PayRequest | None = None,  # only a wallet payment carries one ({"pin"})
) -> OrderRead:
    """Wallet: pay now with the PIN. Card, Alipay, WeChat Pay: (re)open the cashier.

    Paying twice never takes money twice: the second attempt finds the order paid.
    """
    with transaction(session):
        method = service.get_owned_order(session, customer_id=customer.id, order_id=order_id).payment_method
    if method != WALLET:
        checkout.open_cashier(runtime, customer_id=customer.id, order_id=order_id, return_url=None)
        return read_owned_order(session, customer_id=customer.id, order_id=order_id, language=language)
    with transaction(session):
        service.pay_with_wallet(
            session,
            customer=customer,
            order_id=order_id,
            pin=body.pin if body else None,
            settings=runtime.settings,
            now=runtime.clock.now(),
        )
    return read_owned_order(session, customer_id=customer.id, order_id=order_id, language=language)


@router.post("/orders/{order_id}/cancel", response_model=OrderRead)
def cancel_order(
    order_id: str, customer: CurrentCustomer, session: SessionDep, clock: ClockDep, language: Language
) -> OrderRead:
    with transaction(session):
        service.cancel_order(session, customer_id=customer.id, order_id=order_id, now=clock.now())
    return read_owned_order(session, customer_id=customer.id, order_id=order_id, language=language)


@router.get("/orders/{order_id}", response_model=OrderRead)
def get_order(order_id: str, customer: CurrentCustomer, session: SessionDep, language: Language) -> OrderRead:
    return read_owned_order(session, customer_id=customer.id, order_id=order_id, language=language)


@router.get("/orders", response_model=OrderPage)
def list_orders(
    customer: CurrentCustomer,
    session: SessionDep,
    language: Language,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: str | None = None,
) -> OrderPage:
    before = decode_cursor(cursor)
    with transaction(session):
        found = service.list_orders(session, customer_id=customer.id, limit=limit + 1, before=before)
        page, next_cursor = split_page(found, limit, lambda o: (o.created_at, o.id))
        latest = payments.latest_payments(session, [o.id for o in page])
        tickets = support.support_for_orders(session, [o.id for o in page])
        items = [order_read(o, latest.get(o.id), language, support_read(tickets.get(o.id))) for o in page]
    return OrderPage(items=items, next_cursor=next_cursor)

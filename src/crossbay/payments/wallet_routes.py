"""/api/v1/wallet: balance and entries, stored-value top-ups."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from crossbay.api.auth import CurrentCustomer
from crossbay.api.deps import RuntimeDep, SessionDep
from crossbay.api.idempotency import check_key, idempotent_json_post
from crossbay.api.language import Language
from crossbay.api.schemas import MoneyIn, MoneyRead
from crossbay.db import transaction
from crossbay.ledger import service as ledger
from crossbay.money import Money
from crossbay.orders.schemas import NextAction, PaymentRead
from crossbay.paging import decode_cursor, split_page
from crossbay.payments import service as payments
from crossbay.payments import wallet
from crossbay.payments.checkout import open_checkout
from crossbay.payments.models import WalletTopup

router = APIRouter(prefix="/api/v1", tags=["wallet"])


class WalletEntry(BaseModel):
    at: datetime
    amount: MoneyRead
    kind: str
    reference: str


class EntryPage(BaseModel):
    items: list[WalletEntry]
    next_cursor: str | None


class WalletRead(BaseModel):
    balance: MoneyRead
    entries: EntryPage


class TopupCreate(BaseModel):
    amount: MoneyIn
    payment_method: Literal["card", "alipay", "wechatpay"]
    return_url: str | None = Field(default=None, max_length=1024, pattern=r"^https?://")


class TopupRead(BaseModel):
    id: str
    status: str
    amount: MoneyRead
    payment: PaymentRead | None
    next_action: NextAction | None
    created_at: datetime


@router.get("/wallet", response_model=WalletRead)
def get_wallet(
    customer: CurrentCustomer,
    session: SessionDep,
    language: Language,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: str | None = None,
) -> WalletRead:
    before = decode_cursor(cursor)
    with transaction(session):
        balance = wallet.balance(session, customer.id)
        found = ledger.entries_of(session, wallet.account_of(customer.id), limit=limit + 1, before=before)
    page, next_cursor = split_page(found, limit, lambda row: (row[0].at, row[1]))
    # The wallet is our liability: a credit (negative entry) is money the customer gained.
    items = [
        WalletEntry(at=e.at, amount=MoneyRead.of(-e.amount, language), kind=e.kind, reference=e.reference)
        for e, _ in page
    ]
    return WalletRead(
        balance=MoneyRead.of(balance, language), entries=EntryPage(items=items, next_cursor=next_cursor)
    )


def topup_read(session: SessionDep, topup: WalletTopup, language: str) -> TopupRead:
    payment = payments.latest_topup_payment(session, topup.id)
    next_action = None
    if topup.status == wallet.PENDING_PAYMENT and payment is not None and payment.redirect_url:
        next_action = NextAction(type="redirect", url=payment.redirect_url)
    return TopupRead(
        id=topup.id,
        status=topup.status,
        amount=MoneyRead.of(Money(topup.amount, topup.currency), language),
        payment=PaymentRead(provider=payment.provider, reference=payment.reference, status=payment.status)
        if payment
        else None,
        next_action=next_action,
        created_at=topup.created_at,
    )


@router.post("/wallet/topups", status_code=201, response_model=TopupRead)
def create_topup(
    body: TopupCreate,
    request: Request,
    customer: CurrentCustomer,
    runtime: RuntimeDep,
    language: Language,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key", max_length=255)] = None,
) -> JSONResponse:
    key = check_key(idempotency_key, required=False)

    def work() -> tuple[int, dict[str, object]]:
        settings, now = runtime.settings, runtime.clock.now()
        with runtime.sessions() as session, transaction(session):
            topup, payment = wallet.start_topup(
                session,
                customer_id=customer.id,
                amount=Money(body.amount.amount, body.amount.currency),
                method=body.payment_method,
                settings=settings,
                now=now,
            )
        open_checkout(
            runtime,
            payment_id=payment.id,
            description="crossbay stored value",
            return_url=body.return_url or f"{settings.base_url}/home",
        )
        with runtime.sessions() as session, transaction(session):
            read = topup_read(
                session, wallet.get_owned_topup(session, customer_id=customer.id, topup_id=topup.id), language
            )
        return 201, read.model_dump(mode="json")

    return idempotent_json_post(runtime, request, body, scope=customer.id, key=key, work=work)


@router.get("/wallet/topups/{topup_id}", response_model=TopupRead)
def get_topup(topup_id: str, customer: CurrentCustomer, session: SessionDep, language: Language) -> TopupRead:
    with transaction(session):
        return topup_read(
            session, wallet.get_owned_topup(session, customer_id=customer.id, topup_id=topup_id), language
        )

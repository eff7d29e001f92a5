"""Checkout (quote → order → the provider's cashier) and the order page that follows it to fulfilment."""

from __future__ import annotations

import json
import re
import uuid
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from crossbay.api.deps import SessionDep
from crossbay.api.idempotency import idempotent, request_fingerprint
from crossbay.catalog import service as catalog
from crossbay.catalog.catalog_file import BASE_CURRENCY, CURRENCIES
from crossbay.db import transaction
from crossbay.errors import FieldProblem, ValidationFailed
from crossbay.esim import service as esims
from crossbay.esim.routes import esim_reads
from crossbay.i18n import localized
from crossbay.kyc import service as kyc
from crossbay.kyc.errors import IdentityRequired
from crossbay.orders import checkout, states
from crossbay.orders import service as orders
from crossbay.orders.routes import order_read
from crossbay.orders.schemas import Currency
from crossbay.payments import service as payments
from crossbay.payments import wallet
from crossbay.promotions.errors import CouponError
from crossbay.support import service as support
from crossbay.support.views import support_read
from crossbay.web import promotions as promotion_pages
from crossbay.web.messages import CHOOSE_PAYMENT_METHOD, NOTICES
from crossbay.web.pages import CsrfChecked, CustomerDep, PageDep, PageRoute, clean_return, redirect
from crossbay.web.views import PAYMENT_METHODS, esim_view, method_choices, package_view, preselected

router = APIRouter(route_class=PageRoute)

# The page makes the key; anything else in the field was not made by us.
_KEY = re.compile(r"[0-9a-f]{32}")
# Statuses the order page keeps refreshing for, and how often (seconds): fulfilment takes
# seconds, while a payment may take the customer minutes at the cashier.
REFRESH_SECONDS = {states.PAID: 2, states.FULFILLING: 2, states.PENDING_PAYMENT: 10}

PackageParam = Annotated[str, Query(max_length=64)]
EsimParam = Annotated[str | None, Query(max_length=64)]
CurrencyParam = Annotated[Currency, Query()]


def checkout_url(package_id: str, esim_id: str | None, currency: str = BASE_CURRENCY) -> str:
    return "/checkout?" + urlencode(
        {
            "package": package_id,
            **({"esim": esim_id} if esim_id else {}),
            **({"currency": currency} if currency != BASE_CURRENCY else {}),
        }
    )


def _to_identity(package_id: str, esim_id: str | None) -> Response:
    back = checkout_url(package_id, esim_id)
    return redirect("/identity?" + urlencode({"next": back, "notice": "identity_required"}))


def _has_identity(session: Session, customer_id: str) -> bool:
    try:
        kyc.require_verified_identity(session, customer_id=customer_id)
    except IdentityRequired:
        return False
    return True


@router.get("/checkout")
def checkout_page(
    page: PageDep,
    customer: CustomerDep,
    session: SessionDep,
    package: PackageParam,
    esim: EsimParam = None,
    currency: CurrencyParam = BASE_CURRENCY,
    coupon: promotion_pages.CouponParam = None,
) -> Response:
    now = page.runtime.clock.now()
    with transaction(session):
        if esim is None and not _has_identity(session, customer.id):
            return _to_identity(package, esim)
        priced, note = promotion_pages.quote_with_coupon(
            session,
            page,
            customer_id=customer.id,
            package_id=package,
            esim_id=esim,
            currency=currency,
            coupon=coupon,
            now=now,
        )
        promotions = promotion_pages.checkout_extras(
            session, page, priced=priced, coupon=coupon, note=note, now=now
        )
        card = None
        if esim is not None:
            owned = esims.get_owned_esim(session, customer_id=customer.id, esim_id=esim)
            card = esim_view(esim_reads(session, [owned], page.language)[0], can_top_up=True)
        balance = wallet.balance(session, customer.id)
    methods = method_choices(
        total=priced.total, balance=balance, has_pin=customer.payment_pin_hash is not None
    )
    lines = [(localized(line.descriptions, page.language), page.money(line.amount)) for line in priced.lines]
    return page.render(
        "checkout.html",
        package=package_view(priced.package, page.language),
        esim=card,
        lines=lines,
        total=page.money(priced.total),
        key=uuid.uuid4().hex,
        package_id=package,
        esim_id=esim,
        currency=priced.total.currency,
        # Other currencies the operator priced this package in: the payer may choose one.
        currencies=[
            (price.currency, page.money(price), checkout_url(package, esim, price.currency))
            for price in catalog.prices_of(priced.package)
        ],
        methods=methods,
        chosen=preselected(methods, customer.preferred_payment_method),
        balance=page.money(balance),
        top_up_url="/wallet?" + urlencode({"next": checkout_url(package, esim)}),
        set_pin_url="/account/pin?" + urlencode({"next": checkout_url(package, esim)}),
        **promotions,
    )


@router.post("/checkout", dependencies=[CsrfChecked])
def place_and_pay(
    request: Request,
    page: PageDep,
    customer: CustomerDep,
    package: Annotated[str, Form(max_length=64)] = "",
    esim: Annotated[str, Form(max_length=64)] = "",
    key: Annotated[str, Form(max_length=64)] = "",
    method: Annotated[str, Form(max_length=16)] = "",
    currency: Annotated[str, Form(max_length=3)] = BASE_CURRENCY,
    coupon: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    """Place the order once per rendered checkout page and method, however often it is sent.

    Card, Alipay and WeChat Pay go on to their cashier; the wallet goes to the PIN page.
    """
    if not _KEY.fullmatch(key) or not package:
        raise ValidationFailed(
            errors=[FieldProblem("key", "invalid", "checkout form was not made by this site")]
        )
    if method not in PAYMENT_METHODS:
        raise ValidationFailed(errors=[FieldProblem("method", "invalid_choice", CHOOSE_PAYMENT_METHOD)])
    if currency not in CURRENCIES:
        raise ValidationFailed(errors=[FieldProblem("currency", "invalid_choice", "Choose HKD, CNY or MOP")])
    runtime, esim_id, customer_id = page.runtime, esim or None, customer.id
    return_base = runtime.settings.base_url.rstrip("/")

    def work() -> tuple[int, dict[str, object]]:
        with runtime.sessions() as session, transaction(session):
            order = orders.place_order(
                session,
                customer_id=customer_id,
                package_id=package,
                esim_id=esim_id,
                payment_method=method,
                settings=runtime.settings,
                now=runtime.clock.now(),
                currency=currency,
                coupon_code=coupon or None,
            )
        checkout.open_cashier(
            runtime, customer_id=customer_id, order_id=order.id, return_url=f"{return_base}/orders/{order.id}"
        )
        return 201, {"order_id": order.id}

    try:
        # Web keys get their own prefix so they can never collide with a native app's keys. The
        # method is part of the key: back from one cashier, choosing another places a new order.
        answer = idempotent(
            runtime,
            scope=customer_id,
            key=f"web:{key}:{method}",
            work=work,
            fingerprint=request_fingerprint(
                request.url.path,
                {
                    "package": package,
                    "esim": esim_id,
                    "method": method,
                    "currency": currency,
                    "coupon": coupon,
                },
            ),
        )
    except IdentityRequired:
        return _to_identity(package, esim_id)
    except CouponError:
        # Taken by someone else since the page was drawn: back to checkout, which says why.
        return redirect(checkout_url(package, esim_id, currency) + "&" + urlencode({"coupon": coupon}))
    order_id = str(json.loads(bytes(answer.body))["order_id"])
    with runtime.sessions() as session, transaction(session):
        order = orders.get_owned_order(session, customer_id=customer_id, order_id=order_id)
        payment = payments.latest_payments(session, [order.id]).get(order.id)
    # A repeat of a form whose order is already paid goes to the order, not to a second cashier visit.
    if order.status == states.PENDING_PAYMENT and order.payment_method == wallet.WALLET:
        return redirect(f"/orders/{order.id}/pay")
    if order.status == states.PENDING_PAYMENT and payment is not None and payment.redirect_url:
        return redirect(payment.redirect_url)
    return redirect(f"/orders/{order.id}")


@router.get("/orders/{order_id}")
def order_page(
    order_id: str,
    page: PageDep,
    customer: CustomerDep,
    session: SessionDep,
    redirect_status: Annotated[str | None, Query(max_length=16)] = None,
) -> Response:
    if (clean := clean_return(page.request, "redirect_status")) is not None:
        return clean
    with transaction(session):
        order = orders.get_owned_order(session, customer_id=customer.id, order_id=order_id)
        ticket = support.support_for_orders(session, [order.id]).get(order.id)
        read = order_read(
            order,
            payments.latest_payments(session, [order.id]).get(order.id),
            page.language,
            support_read(ticket),
        )
        # A new eSIM is installed from here, one screen sooner than from its own page.
        installable = (
            read.kind == "new_esim"
            and read.status == states.FULFILLED
            and read.esim_id is not None
            and esims.activation_code_of(
                esims.get_owned_esim(session, customer_id=customer.id, esim_id=read.esim_id)
            )
            is not None
        )
    # The cashier sends the payer back with redirect_status=failed when the card was declined.
    declined = redirect_status == "failed" and read.status == states.PENDING_PAYMENT
    return page.render(
        "order.html",
        order=read,
        refresh=REFRESH_SECONDS.get(read.status),
        notice=page._(NOTICES["payment_failed"]) if declined else None,
        install_qr=installable,
    )

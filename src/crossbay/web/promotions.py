"""Promotions on the pages: offers on show, "my coupons", and the coupon box of checkout."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query
from fastapi.responses import Response
from sqlalchemy.orm import Session

from crossbay.api.deps import SessionDep
from crossbay.db import transaction
from crossbay.i18n import localized
from crossbay.money import Money
from crossbay.orders import service as orders
from crossbay.orders.service import Quote
from crossbay.promotions import campaigns, holdings, service
from crossbay.promotions.errors import CouponError, CouponNotApplicable
from crossbay.promotions.models import Promotion
from crossbay.promotions.rules import STACKING_RULE
from crossbay.web.pages import CsrfChecked, CustomerDep, PageDep, PageRoute, redirect
from crossbay.web.rendering import Page

router = APIRouter(route_class=PageRoute)

CouponParam = Annotated[str | None, Query(max_length=64)]


@dataclass(frozen=True)
class CouponNote:
    """Why a typed coupon did not apply: the error's code, and the minimum spend when that was it."""

    code: str
    minimum_spend: str | None = None


def note_of(page: Page, error: CouponError) -> CouponNote:
    minimum = error.minimum_spend if isinstance(error, CouponNotApplicable) else None
    return CouponNote(error.code, page.money(minimum) if minimum is not None else None)


def quote_with_coupon(
    session: Session,
    page: Page,
    *,
    customer_id: str,
    package_id: str,
    esim_id: str | None,
    currency: str,
    coupon: str | None,
    now: datetime,
) -> tuple[Quote, CouponNote | None]:
    """The checkout's price with the typed coupon, or without it and the reason it did not apply."""

    def priced(code: str | None) -> Quote:
        return orders.quote(
            session,
            customer_id=customer_id,
            package_id=package_id,
            esim_id=esim_id,
            currency=currency,
            coupon_code=code,
            now=now,
        )

    if not coupon:
        return priced(None), None
    try:
        return priced(coupon), None  # a quote writes nothing: a refused coupon leaves no trace to undo
    except CouponError as error:
        return priced(None), note_of(page, error)


def checkout_extras(
    session: Session, page: Page, *, priced: Quote, coupon: str | None, note: CouponNote | None, now: datetime
) -> dict[str, Any]:
    """What checkout.html shows about promotions: the coupon box, the next tier's hint, the rule."""
    hint = service.threshold_hint(session, package=priced.package, subtotal=priced.subtotal, now=now)
    return {
        "coupon": coupon or "",
        "coupon_applied": bool(coupon) and note is None,
        "coupon_note": note,
        "hint": (
            {"more": page.money(hint.spend - priced.subtotal), "save": page.money(hint.save)}
            if hint
            else None
        ),
        "stacking_rule": localized(STACKING_RULE, page.language),
    }


@dataclass(frozen=True)
class OfferView:
    title: str
    description: str
    kind: str
    code: str | None
    tiers: list[tuple[str, str]]
    discount_type: str | None
    percent: int | None
    amounts: list[str]
    minimum_spend: list[str]
    first_order_only: bool
    ends_at: str


def _money_list(page: Page, amounts: dict[str, int]) -> list[str]:
    return [page.money(Money(int(a), c)) for c, a in sorted(amounts.items(), key=lambda kv: kv[0] != "HKD")]


def offer_view(page: Page, promotion: Promotion, code: str | None) -> OfferView:
    return OfferView(
        title=localized(promotion.names, page.language),
        description=localized(promotion.descriptions, page.language) if promotion.descriptions else "",
        kind=promotion.kind,
        code=code,
        tiers=[(page.money(t.spend), page.money(t.save)) for t in campaigns.tiers_of(promotion)],
        discount_type=promotion.discount_type,
        percent=promotion.percent,
        amounts=_money_list(page, promotion.amounts),
        minimum_spend=_money_list(page, promotion.min_spend),
        first_order_only=promotion.first_order_only,
        ends_at=page.day(promotion.ends_at),
    )


@router.get("/promotions")
def promotions_page(page: PageDep, session: SessionDep) -> Response:
    """Open to anyone: what is on offer now and how discounts combine."""
    with transaction(session):
        offers = service.offers_on_show(session, now=page.runtime.clock.now())
        codes = campaigns.public_codes(session, [p.id for p in offers])
        views = [offer_view(page, p, codes.get(p.id)) for p in offers]
    return page.render("promotions.html", offers=views, stacking_rule=localized(STACKING_RULE, page.language))


@router.get("/coupons")
def coupons_page(
    page: PageDep,
    customer: CustomerDep,
    session: SessionDep,
    error: Annotated[str | None, Query(max_length=32)] = None,
    kept: Annotated[str | None, Query(max_length=8)] = None,
) -> Response:
    with transaction(session):
        held = holdings.customer_coupons(session, customer_id=customer.id, now=page.runtime.clock.now())
        coupons = [(offer_view(page, h.promotion, h.code.code), h.status, h.uses_left) for h in held]
    return page.render(
        "coupons.html",
        coupons=coupons,
        error=error if error in COUPON_ERRORS else None,
        kept=kept == "1",
    )


COUPON_ERRORS = ("coupon_invalid", "coupon_expired", "coupon_used_up", "coupon_not_applicable")


@router.post("/coupons", dependencies=[CsrfChecked])
def keep_coupon(
    page: PageDep, customer: CustomerDep, code: Annotated[str, Form(max_length=64)] = ""
) -> Response:
    runtime = page.runtime
    try:
        with runtime.sessions() as session, transaction(session):
            service.claim(session, customer_id=customer.id, code=code, now=runtime.clock.now())
    except CouponError as error:
        return redirect("/coupons?" + urlencode({"error": error.code}))
    return redirect("/coupons?kept=1")

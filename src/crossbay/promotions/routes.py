"""/api/v1/promotions (offers on show, public) and /api/v1/me/coupons (the customer's coupons)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from crossbay.api.auth import CurrentCustomer
from crossbay.api.deps import ClockDep, SessionDep
from crossbay.api.language import Language
from crossbay.db import transaction
from crossbay.i18n import localized
from crossbay.promotions import campaigns, holdings, service
from crossbay.promotions.rules import STACKING_RULE
from crossbay.promotions.schemas import (
    CouponClaim,
    CouponList,
    CouponRead,
    PromotionList,
    coupon_read,
    promotion_read,
)

router = APIRouter(prefix="/api/v1", tags=["promotions"])


@router.get("/promotions", response_model=PromotionList)
def list_promotions(session: SessionDep, clock: ClockDep, language: Language) -> PromotionList:
    with transaction(session):
        offers = service.offers_on_show(session, now=clock.now())
        codes = campaigns.public_codes(session, [p.id for p in offers])
    return PromotionList(
        items=[promotion_read(p, codes.get(p.id), language) for p in offers],
        stacking_rule=localized(STACKING_RULE, language),
    )


@router.get("/me/coupons", response_model=CouponList)
def my_coupons(
    customer: CurrentCustomer, session: SessionDep, clock: ClockDep, language: Language
) -> CouponList:
    with transaction(session):
        held = holdings.customer_coupons(session, customer_id=customer.id, now=clock.now())
    return CouponList(items=[coupon_read(h, language) for h in held])


@router.post("/me/coupons", status_code=201, response_model=CouponRead)
def claim_coupon(
    body: CouponClaim, customer: CurrentCustomer, session: SessionDep, clock: ClockDep, language: Language
) -> JSONResponse:
    """Keep a coupon by its code: 201 the first time, 200 when it is already kept."""
    now = clock.now()
    with transaction(session):
        kept, new = service.claim(session, customer_id=customer.id, code=body.code, now=now)
        code_id = kept.code_id
    with transaction(session):
        held = holdings.customer_coupons(session, customer_id=customer.id, now=now)
    read = next(coupon_read(h, language) for h in held if h.code.id == code_id)
    return JSONResponse(read.model_dump(mode="json"), status_code=201 if new else 200)

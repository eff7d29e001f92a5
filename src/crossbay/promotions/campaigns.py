"""Setting promotions up (the back office and the CLI call these): campaigns, codes, CSV export."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crossbay.catalog.service import KINDS
from crossbay.db import new_id
from crossbay.errors import FieldProblem, ValidationFailed
from crossbay.i18n import LANGUAGES
from crossbay.money import Money
from crossbay.promotions.codes import check_code_prefix, check_public_code, generate_code
from crossbay.promotions.errors import PromotionNotFound
from crossbay.promotions.models import CouponCode, CustomerCoupon, Promotion
from crossbay.promotions.rules import DiscountType, Tier

COUPON, THRESHOLD = "coupon", "threshold"
CURRENCIES = ("HKD", "CNY", "MOP")
MAX_BULK = 100_000
ISSUED, CLAIMED = "issued", "claimed"


def _problem(field: str, message: str) -> ValidationFailed:
    return ValidationFailed(errors=[FieldProblem(field, "invalid", message)])


def _check_texts(field: str, texts: Mapping[str, str]) -> dict[str, str]:
    if not texts.get("en") and not texts.get("zh-Hant"):
        raise _problem(field, "Give at least the Traditional Chinese or English text")
    return {lang: text.strip() for lang, text in texts.items() if lang in LANGUAGES and text.strip()}


def _check_amounts(field: str, amounts: Mapping[str, int], *, required: bool) -> dict[str, int]:
    if required and not amounts:
        raise _problem(field, "Give an amount in at least one currency")
    for currency, amount in amounts.items():
        if currency not in CURRENCIES or not isinstance(amount, int) or amount < 0:
            raise _problem(field, "Amounts are whole minor units in HKD, CNY or MOP")
    return dict(amounts)


def _check_window(starts_at: datetime, ends_at: datetime | None) -> None:
    if ends_at is not None and ends_at <= starts_at:
        raise _problem("ends_at", "The end must come after the start")


def _check_scope(package_kinds: Sequence[str]) -> list[str]:
    if any(kind not in KINDS for kind in package_kinds):
        raise _problem("package_kinds", f"Use one of: {', '.join(KINDS)}")
    return list(package_kinds)


def create_coupon(
    session: Session,
    *,
    names: Mapping[str, str],
    descriptions: Mapping[str, str] | None = None,
    discount_type: DiscountType,
    amounts: Mapping[str, int],
    percent: int | None = None,
    min_spend: Mapping[str, int] | None = None,
    starts_at: datetime,
    ends_at: datetime | None,
    package_ids: Sequence[str] = (),
    package_kinds: Sequence[str] = (),
    first_order_only: bool = False,
    per_customer_limit: int | None = None,
    total_limit: int | None = None,
    code: str | None = None,
    on_show: bool = False,
    now: datetime,
) -> Promotion:
    """A coupon campaign; with ``code`` it also gets that shared code (WELCOME10), else codes come in bulk.

    ``amounts`` is the amount off (fixed) or the cap (percent) per currency it can be used in.
    """
    if discount_type == "percent" and (percent is None or not 1 <= percent <= 100):
        raise _problem("percent", "A percent coupon takes 1 to 100 percent off")
    if discount_type not in ("fixed", "percent"):
        raise _problem("discount_type", "Use fixed or percent")
    for field, limit in (("per_customer_limit", per_customer_limit), ("total_limit", total_limit)):
        if limit is not None and limit < 1:
            raise _problem(field, "A limit is at least 1")
    _check_window(starts_at, ends_at)
    promotion = _add_promotion(
        session,
        kind=COUPON,
        names=_check_texts("names", names),
        descriptions=descriptions,
        starts_at=starts_at,
        ends_at=ends_at,
        on_show=on_show,
        discount_type=discount_type,
        percent=percent if discount_type == "percent" else None,
        amounts=_check_amounts("amounts", amounts, required=True),
        min_spend=_check_amounts("min_spend", min_spend or {}, required=False),
        package_ids=package_ids,
        package_kinds=_check_scope(package_kinds),
        first_order_only=first_order_only,
        per_customer_limit=per_customer_limit,
        total_limit=total_limit,
        now=now,
    )
    if code is not None:
        try:
            shared = check_public_code(code)
        except ValueError:
            raise _problem("code", "A coupon code is 3-32 letters and digits") from None
        if session.scalar(select(CouponCode.id).where(CouponCode.code == shared)):
            raise _problem("code", "This coupon code is taken")
        session.add(
            CouponCode(
                id=new_id("cpn"),
                promotion_id=promotion.id,
                code=shared,
                max_uses=None,
                redeemed=0,
                created_at=now,
            )
        )
    return promotion


def create_threshold(
    session: Session,
    *,
    names: Mapping[str, str],
    descriptions: Mapping[str, str] | None = None,
    tiers: Sequence[Tier],
    starts_at: datetime,
    ends_at: datetime | None,
    package_ids: Sequence[str] = (),
    package_kinds: Sequence[str] = (),
    on_show: bool = True,
    now: datetime,
) -> Promotion:
    """Automatic spend-threshold tiers (spend HK$100 save HK$10, spend HK$200 save HK$25)."""
    if not tiers:
        raise _problem("tiers", "Give at least one tier")
    for tier in tiers:
        if tier.spend.currency != tier.save.currency or tier.spend.currency not in CURRENCIES:
            raise _problem("tiers", "A tier spends and saves in one of HKD, CNY or MOP")
        if not 0 < tier.save.amount <= tier.spend.amount:
            raise _problem("tiers", "A tier saves more than nothing and no more than its spend")
    _check_window(starts_at, ends_at)
    return _add_promotion(
        session,
        kind=THRESHOLD,
        names=_check_texts("names", names),
        descriptions=descriptions,
        starts_at=starts_at,
        ends_at=ends_at,
        on_show=on_show,
        tiers=[{"currency": t.spend.currency, "spend": t.spend.amount, "save": t.save.amount} for t in tiers],
        package_ids=package_ids,
        package_kinds=_check_scope(package_kinds),
        now=now,
    )


def _add_promotion(
    session: Session,
    *,
    kind: str,
    names: dict[str, str],
    descriptions: Mapping[str, str] | None,
    starts_at: datetime,
    ends_at: datetime | None,
    on_show: bool,
    discount_type: DiscountType | None = None,
    percent: int | None = None,
    amounts: dict[str, int] | None = None,
    min_spend: dict[str, int] | None = None,
    tiers: list[dict[str, object]] | None = None,
    package_ids: Sequence[str],
    package_kinds: list[str],
    first_order_only: bool = False,
    per_customer_limit: int | None = None,
    total_limit: int | None = None,
    now: datetime,
) -> Promotion:
    """The row both kinds share, from values the caller has checked; a new campaign is active and unused."""
    promotion = Promotion(
        id=new_id("promo"),
        kind=kind,
        names=names,
        descriptions=dict(descriptions or {}),
        starts_at=starts_at,
        ends_at=ends_at,
        active=True,
        on_show=on_show,
        discount_type=discount_type,
        percent=percent,
        amounts=amounts or {},
        min_spend=min_spend or {},
        tiers=tiers or [],
        package_ids=list(package_ids),
        package_kinds=package_kinds,
        first_order_only=first_order_only,
        per_customer_limit=per_customer_limit,
        total_limit=total_limit,
        redeemed=0,
        created_at=now,
    )
    session.add(promotion)
    return promotion


def tiers_of(promotion: Promotion) -> tuple[Tier, ...]:
    return tuple(
        Tier(Money(int(t["spend"]), str(t["currency"])), Money(int(t["save"]), str(t["currency"])))
        for t in promotion.tiers
    )


def get_promotion(session: Session, promotion_id: str) -> Promotion:
    promotion = session.get(Promotion, promotion_id)
    if promotion is None:
        raise PromotionNotFound()
    return promotion


def set_active(session: Session, *, promotion_id: str, active: bool) -> Promotion:
    """Staff switch a promotion off (or on again); codes already on unpaid orders keep their discount."""
    promotion = get_promotion(session, promotion_id)
    promotion.active = active
    return promotion


@dataclass(frozen=True)
class PromotionSummary:
    promotion: Promotion
    codes: int
    public_code: str | None


def list_promotions(session: Session) -> list[PromotionSummary]:
    """Every promotion, newest first, with how many codes it has (for the back office)."""
    promotions = list(session.scalars(select(Promotion).order_by(Promotion.created_at.desc(), Promotion.id)))
    counts = {
        promotion_id: int(count)
        for promotion_id, count in session.execute(
            select(CouponCode.promotion_id, func.count()).group_by(CouponCode.promotion_id)
        )
    }
    public = public_codes(session, [p.id for p in promotions])
    return [PromotionSummary(p, int(counts.get(p.id, 0)), public.get(p.id)) for p in promotions]


def public_codes(session: Session, promotion_ids: Sequence[str]) -> dict[str, str]:
    """Each campaign's shared code (no owner, no per-code limit), if it has one."""
    if not promotion_ids:
        return {}
    rows = session.execute(
        select(CouponCode.promotion_id, CouponCode.code)
        .where(
            CouponCode.promotion_id.in_(promotion_ids),
            CouponCode.customer_id.is_(None),
            CouponCode.max_uses.is_(None),
        )
        .order_by(CouponCode.created_at, CouponCode.id)
    )
    found: dict[str, str] = {}
    for promotion_id, code in rows:
        found.setdefault(promotion_id, code)
    return found


def generate_codes(
    session: Session,
    *,
    promotion_id: str,
    count: int,
    max_uses: int | None = 1,
    prefix: str = "",
    now: datetime,
) -> list[CouponCode]:
    """``count`` new unique codes for a coupon campaign, each good for ``max_uses`` orders."""
    promotion = get_promotion(session, promotion_id)
    if promotion.kind != COUPON:
        raise _problem("promotion_id", "Only a coupon campaign has codes")
    if not 1 <= count <= MAX_BULK:
        raise _problem("count", f"Generate 1 to {MAX_BULK} codes at a time")
    if prefix:
        try:
            prefix = check_code_prefix(prefix)
        except ValueError:
            raise _problem("prefix", "A prefix is letters and digits") from None
    made: dict[str, CouponCode] = {}
    while len(made) < count:
        batch = {generate_code(prefix) for _ in range(min(count - len(made), 1000))} - made.keys()
        # A collision with a stored code is astronomically rare; it is dropped and drawn again.
        taken = set(session.scalars(select(CouponCode.code).where(CouponCode.code.in_(batch))))
        for code in batch - taken:
            made[code] = CouponCode(
                id=new_id("cpn"),
                promotion_id=promotion.id,
                code=code,
                max_uses=max_uses,
                redeemed=0,
                created_at=now,
            )
    session.add_all(made.values())
    return list(made.values())


def issue_coupon(session: Session, *, promotion_id: str, customer_id: str, now: datetime) -> CouponCode:
    """A single-use code that only this customer can use, already in their coupons."""
    code = generate_codes(session, promotion_id=promotion_id, count=1, now=now)[0]
    code.customer_id = customer_id
    session.add(
        CustomerCoupon(
            id=new_id("ccp"), customer_id=customer_id, code_id=code.id, source=ISSUED, created_at=now
        )
    )
    return code


CSV_COLUMNS = ("code", "promotion_id", "max_uses", "redeemed", "issued_to", "created_at")


def codes_csv(codes: Sequence[CouponCode]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for code in codes:
        writer.writerow(
            (
                code.code,
                code.promotion_id,
                "" if code.max_uses is None else code.max_uses,
                code.redeemed,
                code.customer_id or "",
                code.created_at.isoformat(),
            )
        )
    return out.getvalue()


def export_codes(session: Session, *, promotion_id: str) -> str:
    """All codes of a campaign as CSV, oldest first."""
    get_promotion(session, promotion_id)
    codes = session.scalars(
        select(CouponCode)
        .where(CouponCode.promotion_id == promotion_id)
        .order_by(CouponCode.created_at, CouponCode.code)
    )
    return codes_csv(list(codes))

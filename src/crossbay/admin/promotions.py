"""Promotions for the back office: reading the create forms into the promotions context's terms, and
what the screens show (status, uses). The rules themselves live in crossbay.promotions, not here."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crossbay.catalog.models import Package
from crossbay.catalog.service import KINDS
from crossbay.clock import HONG_KONG
from crossbay.errors import FieldProblem, ValidationFailed
from crossbay.money import Money, money_from_decimal_string
from crossbay.promotions.campaigns import COUPON, CURRENCIES
from crossbay.promotions.models import CouponCode, CouponRedemption, Promotion
from crossbay.promotions.rules import Tier

NAME_LANGUAGES = ("zh-Hant", "zh-Hans", "en")
TIER_ROWS = 6
CODES_SHOWN = 50
# The page makes at most this many codes per click; the CLI (crossbay promotions coupon-codes) makes more.
MAX_CODES_PER_REQUEST = 10_000
LIVE, SCHEDULED, ENDED, OFF, USED_UP = "live", "scheduled", "ended", "off", "used_up"


class FormValues:
    """A submitted form as the page shows it again: text fields, ticked boxes, multi-choices."""

    def __init__(self, items: Iterable[tuple[str, Any]] = ()) -> None:
        self._items = [(key, value.strip()) for key, value in items if isinstance(value, str)]

    def get(self, name: str, default: str = "") -> str:
        found = [value for key, value in self._items if key == name]
        return found[-1] if found else default

    def all(self, name: str) -> list[str]:
        return [value for key, value in self._items if key == name and value]

    def checked(self, name: str) -> bool:
        return bool(self.get(name))


@dataclass
class Problems:
    """Every problem of a form at once, so staff fix them in one go."""

    found: list[FieldProblem] = field(default_factory=list)

    def add(self, problem: FieldProblem) -> None:
        self.found.append(problem)

    def raise_any(self) -> None:
        if self.found:
            raise ValidationFailed(errors=self.found)


def _hk_time(text: str, problems: Problems, name: str) -> datetime | None:
    """A Hong Kong wall-clock time from a ``datetime-local`` field; None when left empty."""
    if not text:
        return None
    try:
        local = datetime.fromisoformat(text)
    except ValueError:
        problems.add(FieldProblem(name, "invalid_time", "Give a date and time"))
        return None
    return (local if local.tzinfo else local.replace(tzinfo=HONG_KONG)).astimezone(HONG_KONG)


def _amount(text: str, currency: str, problems: Problems, name: str) -> int | None:
    if not text:
        return None
    try:
        value = money_from_decimal_string(text, currency)
    except ValueError:
        problems.add(FieldProblem(name, "invalid_amount", "Give amounts like 10 or 10.50"))
        return None
    if value.amount <= 0:
        problems.add(FieldProblem(name, "invalid_amount", "Give amounts above zero"))
        return None
    return value.amount


def _amounts(form: FormValues, prefix: str, problems: Problems) -> dict[str, int]:
    found: dict[str, int] = {}
    for currency in CURRENCIES:
        amount = _amount(form.get(f"{prefix}_{currency}"), currency, problems, prefix)
        if amount is not None:
            found[currency] = amount
    return found


def _count(text: str, problems: Problems, name: str) -> int | None:
    if not text:
        return None
    if not text.isdigit() or not 1 <= int(text) <= 10_000_000:
        problems.add(FieldProblem(name, "invalid_number", "Give a whole number from 1"))
        return None
    return int(text)


def _texts(form: FormValues, prefix: str) -> dict[str, str]:
    return {lang: form.get(f"{prefix}_{lang}") for lang in NAME_LANGUAGES if form.get(f"{prefix}_{lang}")}


def _scope(form: FormValues, package_ids: Sequence[str], problems: Problems) -> dict[str, list[str]]:
    chosen_ids = form.all("package_ids")
    if any(pid not in package_ids for pid in chosen_ids):
        problems.add(FieldProblem("package_ids", "invalid_choice", "Choose packages from the list"))
    kinds = form.all("package_kinds")
    if any(kind not in KINDS for kind in kinds):
        problems.add(FieldProblem("package_kinds", "invalid_choice", "Choose kinds from the list"))
    return {"package_ids": chosen_ids, "package_kinds": kinds}


def _window(form: FormValues, problems: Problems, now: datetime) -> dict[str, datetime | None]:
    starts_at = _hk_time(form.get("starts_at"), problems, "starts_at") or now
    return {"starts_at": starts_at, "ends_at": _hk_time(form.get("ends_at"), problems, "ends_at")}


def coupon_terms(form: FormValues, *, package_ids: Sequence[str], now: datetime) -> dict[str, Any]:
    """The keyword arguments of ``campaigns.create_coupon`` from the form (it checks the rules itself)."""
    problems = Problems()
    discount_type = form.get("discount_type")
    if discount_type not in ("fixed", "percent"):
        problems.add(FieldProblem("discount_type", "invalid_choice", "Choose an amount off or a percentage"))
    percent = None
    if discount_type == "percent":
        text = form.get("percent")
        if not text.isdigit():
            problems.add(FieldProblem("percent", "invalid_number", "Give the percentage as a whole number"))
        else:
            percent = int(text)
    terms: dict[str, Any] = {
        "names": _texts(form, "name"),
        "descriptions": _texts(form, "description"),
        "discount_type": discount_type,
        "percent": percent,
        "amounts": _amounts(form, "amounts", problems),
        "min_spend": _amounts(form, "min_spend", problems),
        **_window(form, problems, now),
        **_scope(form, package_ids, problems),
        "first_order_only": form.checked("first_order_only"),
        "per_customer_limit": _count(form.get("per_customer_limit"), problems, "per_customer_limit"),
        "total_limit": _count(form.get("total_limit"), problems, "total_limit"),
        "code": form.get("code") or None,
        "on_show": form.checked("on_show"),
    }
    problems.raise_any()
    return terms


def threshold_terms(form: FormValues, *, package_ids: Sequence[str], now: datetime) -> dict[str, Any]:
    """The keyword arguments of ``campaigns.create_threshold``; empty tier rows are left out."""
    problems = Problems()
    tiers: list[Tier] = []
    for row in range(TIER_ROWS):
        spend_text, save_text = form.get(f"tier_spend_{row}"), form.get(f"tier_save_{row}")
        if not spend_text and not save_text:
            continue
        currency = form.get(f"tier_currency_{row}")
        if currency not in CURRENCIES:
            problems.add(FieldProblem("tiers", "invalid_choice", "Choose the tier's currency"))
            continue
        spend = _amount(spend_text, currency, problems, "tiers")
        save = _amount(save_text, currency, problems, "tiers")
        if spend is None or save is None:
            if not (spend_text and save_text):
                problems.add(FieldProblem("tiers", "incomplete", "Give both the spend and the saving"))
            continue
        tiers.append(Tier(Money(spend, currency), Money(save, currency)))
    terms: dict[str, Any] = {
        "names": _texts(form, "name"),
        "descriptions": _texts(form, "description"),
        "tiers": tiers,
        **_window(form, problems, now),
        **_scope(form, package_ids, problems),
        "on_show": form.checked("on_show"),
    }
    problems.raise_any()
    return terms


def codes_request(form: FormValues) -> tuple[int, int | None, str]:
    """How many codes, how many orders each is good for (empty: no limit) and their prefix."""
    problems = Problems()
    count_text = form.get("count")
    count = int(count_text) if count_text.isdigit() else 0
    if not 1 <= count <= MAX_CODES_PER_REQUEST:
        problems.add(
            FieldProblem(
                "count",
                "invalid_number",
                "Make 1 to 10000 codes at a time here (crossbay promotions coupon-codes makes more)",
            )
        )
    max_uses = _count(form.get("max_uses"), problems, "max_uses")
    problems.raise_any()
    return count, max_uses, form.get("prefix").upper()


def all_packages(session: Session) -> list[Package]:
    return list(session.scalars(select(Package).order_by(Package.on_sale.desc(), Package.sort, Package.code)))


@dataclass
class Uses:
    """A campaign's redemptions: live uses, uses given back (cancelled, expired, refunded), money off."""

    live: int = 0
    released: int = 0
    discounted: dict[str, int] = field(default_factory=dict)

    def discounts(self) -> list[Money]:
        return [Money(self.discounted[c], c) for c in CURRENCIES if c in self.discounted]


def uses_of(session: Session, promotion_ids: Sequence[str]) -> dict[str, Uses]:
    """Coupon redemptions per campaign, counted from the redemptions themselves."""
    found: dict[str, Uses] = defaultdict(Uses)
    if not promotion_ids:
        return found
    rows = session.execute(
        select(
            CouponRedemption.promotion_id,
            CouponRedemption.status,
            CouponRedemption.currency,
            func.count(),
            func.sum(CouponRedemption.amount),
        )
        .where(CouponRedemption.promotion_id.in_(promotion_ids))
        .group_by(CouponRedemption.promotion_id, CouponRedemption.status, CouponRedemption.currency)
    )
    for promotion_id, status, currency, count, amount in rows:
        uses = found[promotion_id]
        if status == "active":
            uses.live += int(count)
            uses.discounted[currency] = uses.discounted.get(currency, 0) + int(amount or 0)
        else:
            uses.released += int(count)
    return found


def status_of(promotion: Promotion, now: datetime) -> str:
    if not promotion.active:
        return OFF
    if promotion.ends_at is not None and promotion.ends_at <= now:
        return ENDED
    if promotion.starts_at > now:
        return SCHEDULED
    if promotion.total_limit is not None and promotion.redeemed >= promotion.total_limit:
        return USED_UP
    return LIVE


def codes_of(session: Session, promotion_id: str) -> tuple[list[CouponCode], int]:
    """The newest codes of a campaign (for the page) and how many it has in all."""
    total = int(session.scalar(select(func.count()).where(CouponCode.promotion_id == promotion_id)) or 0)
    shown = session.scalars(
        select(CouponCode)
        .where(CouponCode.promotion_id == promotion_id)
        .order_by(CouponCode.created_at.desc(), CouponCode.code)
        .limit(CODES_SHOWN)
    )
    return list(shown), total


def is_coupon(promotion: Promotion) -> bool:
    return promotion.kind == COUPON

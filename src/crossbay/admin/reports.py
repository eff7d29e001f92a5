"""Daily figures in Hong Kong days, one currency at a time (never summed across currencies).

- sales: orders paid that day (the ``paid`` step of their timeline), by package and by method;
- discounts: what those orders were discounted;
- refunds: orders refunded that day;
- top-ups: stored value bought that day, by method.

Each figure is what the ledger records for the same day: a paid order's capture and its
``paid`` step are written in one transaction with one clock reading, as are a refund's.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from crossbay.clock import HONG_KONG, hk_date
from crossbay.orders import states
from crossbay.orders.models import Order, OrderEvent
from crossbay.payments.models import WalletTopup
from crossbay.payments.wallet import COMPLETED

MAX_DAYS = 92


@dataclass
class DayFigures:
    day: date
    sales: int = 0
    orders: int = 0
    discounts: int = 0
    refunds: int = 0
    topups: int = 0
    by_package: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    by_method: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    topups_by_method: dict[str, int] = field(default_factory=lambda: defaultdict(int))


@dataclass
class CurrencyReport:
    currency: str
    days: list[DayFigures]

    def total(self, name: str) -> int:
        return sum(int(getattr(day, name)) for day in self.days)

    def package_total(self, package_id: str) -> int:
        return sum(day.by_package.get(package_id, 0) for day in self.days)

    def packages(self) -> list[str]:
        return sorted({package for day in self.days for package in day.by_package})

    def methods(self) -> list[str]:
        return sorted({method for day in self.days for method in (*day.by_method, *day.topups_by_method)})


@dataclass(frozen=True)
class SaleFact:
    at: datetime
    currency: str
    package_id: str
    method: str
    total: int
    discount: int


@dataclass(frozen=True)
class MoneyFact:
    at: datetime
    currency: str
    method: str
    amount: int


def clamp_range(start: date, end: date) -> tuple[date, date]:
    if end < start:
        start, end = end, start
    return max(start, end - timedelta(days=MAX_DAYS - 1)), end


def build_reports(
    start: date,
    end: date,
    *,
    sales: Iterable[SaleFact],
    refunds: Iterable[MoneyFact],
    topups: Iterable[MoneyFact],
) -> list[CurrencyReport]:
    """Group facts by currency and Hong Kong day; every day of the range appears, even an empty one."""
    per_currency: dict[str, dict[date, DayFigures]] = {}

    def day_of(currency: str, at: datetime) -> DayFigures | None:
        day = hk_date(at)
        if not start <= day <= end:
            return None
        days = per_currency.setdefault(currency, {})
        return days.setdefault(day, DayFigures(day))

    for sale in sales:
        if (figures := day_of(sale.currency, sale.at)) is not None:
            figures.sales += sale.total
            figures.orders += 1
            figures.discounts += sale.discount
            figures.by_package[sale.package_id] += sale.total
            figures.by_method[sale.method] += sale.total
    for refund in refunds:
        if (figures := day_of(refund.currency, refund.at)) is not None:
            figures.refunds += refund.amount
    for topup in topups:
        if (figures := day_of(topup.currency, topup.at)) is not None:
            figures.topups += topup.amount
            figures.topups_by_method[topup.method] += topup.amount
    reports = []
    for currency in sorted(per_currency, key=lambda c: (c != "HKD", c)):
        days = per_currency[currency]
        every_day = [
            days.get(start + timedelta(days=n)) or DayFigures(start + timedelta(days=n))
            for n in range((end - start).days + 1)
        ]
        reports.append(CurrencyReport(currency, every_day))
    return reports


def daily_reports(session: Session, *, start: date, end: date) -> list[CurrencyReport]:
    start, end = clamp_range(start, end)
    since, until = hk_day_start_of(start), hk_day_start_of(end + timedelta(days=1))

    def order_steps(status: str) -> list[tuple[OrderEvent, Order]]:
        query = (
            select(OrderEvent, Order)
            .join(Order, Order.id == OrderEvent.order_id)
            .where(
                OrderEvent.status == status,
                OrderEvent.step.is_(None),
                OrderEvent.at >= since,
                OrderEvent.at < until,
            )
        )
        return [(event, order) for event, order in session.execute(query)]

    sales = [
        SaleFact(
            event.at, order.currency, order.package_id, order.payment_method, order.total, order.discount
        )
        for event, order in order_steps(states.PAID)
    ]
    refunds = [
        MoneyFact(event.at, order.currency, order.payment_method, order.total)
        for event, order in order_steps(states.REFUNDED)
    ]
    topups = [
        MoneyFact(topup.completed_at, topup.currency, topup.payment_method, topup.amount)
        for topup in session.scalars(
            select(WalletTopup).where(
                WalletTopup.status == COMPLETED,
                WalletTopup.completed_at >= since,
                WalletTopup.completed_at < until,
            )
        )
        if topup.completed_at is not None
    ]
    return build_reports(start, end, sales=sales, refunds=refunds, topups=topups)


def hk_day_start_of(day: date) -> datetime:
    """The instant a Hong Kong calendar day begins, as UTC."""
    return datetime.combine(day, time.min, tzinfo=HONG_KONG).astimezone(UTC)


CSV_COLUMNS = ("day", "currency", "row", "key", "amount_minor", "orders")


def to_csv(reports: list[CurrencyReport]) -> str:
    """One row per figure: day, currency, what it is (sales / package / method / …), key, minor units."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for report in reports:
        for day in report.days:
            iso = day.day.isoformat()
            writer.writerow((iso, report.currency, "sales", "", day.sales, day.orders))
            writer.writerow((iso, report.currency, "discounts", "", day.discounts, ""))
            writer.writerow((iso, report.currency, "refunds", "", day.refunds, ""))
            writer.writerow((iso, report.currency, "topups", "", day.topups, ""))
            for package, amount in sorted(day.by_package.items()):
                writer.writerow((iso, report.currency, "sales_by_package", package, amount, ""))
            for method, amount in sorted(day.by_method.items()):
                writer.writerow((iso, report.currency, "sales_by_method", method, amount, ""))
            for method, amount in sorted(day.topups_by_method.items()):
                writer.writerow((iso, report.currency, "topups_by_method", method, amount, ""))
    return out.getvalue()

"""Daily reconciliation: each provider's statement against what our ledger booked, line by line.

For one Hong Kong day and one provider: the provider's payments and refunds (its statement)
and the postings on ``clearing:<provider>`` (our books) are paired by the provider's reference
for our payment; refunds of one payment are paired by request number, then by amount. Every
line left over, and every pair whose amount or currency differ, is a difference. A line that
the other side has on a neighbouring day (a notification that arrived after midnight) is
reported as ``booked_on_other_day``. The results replace any earlier run for that day.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from crossbay.clock import HONG_KONG, hk_date
from crossbay.db import new_id, transaction
from crossbay.ledger import service as ledger
from crossbay.money import Money
from crossbay.payments.models import Payment
from crossbay.payments.reconciliation_models import ReconciliationDifference, ReconciliationRun
from crossbay.payments.statements import PAYMENT, REFUND, Statement, StatementLine, StatementSource
from crossbay.runtime import Runtime

log = logging.getLogger("crossbay.reconciliation")

RECONCILE_DAY_JOB = "payments.reconcile_day"
MISSING_IN_BOOKS, MISSING_AT_PROVIDER = "missing_in_books", "missing_at_provider"
AMOUNT_MISMATCH, CURRENCY_MISMATCH = "amount_mismatch", "currency_mismatch"
BOOKED_ON_OTHER_DAY = "booked_on_other_day"
CLEAN, DIFFERENCES = "clean", "differences"
# How each posting on a provider's clearing account reads as a statement line.
_POSTING_KINDS = {"payment.captured": PAYMENT, "payment.refunded": REFUND}
_PAGE = 500


class NoStatement(LookupError):
    """The provider has no statement we can download (the wallet, or an unknown name)."""


@dataclass(frozen=True)
class BookedLine:
    """A posting on ``clearing:<provider>``, seen as the provider should report it."""

    kind: str
    reference: str  # the provider's name for the payment (Payment.reference)
    payment_id: str | None
    amount: Money  # positive
    at: datetime
    # The ledger does not keep the refund's request number: refunds pair by amount instead.
    refund_no: str | None = None


@dataclass(frozen=True)
class Difference:
    kind: str
    line_kind: str
    reference: str
    payment_id: str | None = None
    refund_no: str | None = None
    provider_amount: Money | None = None
    booked_amount: Money | None = None
    other_day: date | None = None


@dataclass
class Comparison:
    matched: list[tuple[StatementLine, BookedLine]] = field(default_factory=list)
    mismatched: list[Difference] = field(default_factory=list)
    provider_only: list[StatementLine] = field(default_factory=list)
    booked_only: list[BookedLine] = field(default_factory=list)


@dataclass(frozen=True)
class ReconciliationReport:
    provider: str
    day: date
    matched_payments: int
    matched_refunds: int
    totals: dict[str, dict[str, int]]  # currency -> provider_/booked_/matched_ payments and refunds
    differences: tuple[Difference, ...]

    @property
    def clean(self) -> bool:
        return not self.differences


# --- the comparison itself (pure) ---------------------------------------------------------------


def compare(provider_lines: Iterable[StatementLine], booked_lines: Iterable[BookedLine]) -> Comparison:
    """Pair the two sides' lines of one provider and day, and say what does not agree."""
    result = Comparison()
    theirs: dict[tuple[str, str], list[StatementLine]] = defaultdict(list)
    ours: dict[tuple[str, str], list[BookedLine]] = defaultdict(list)
    for line in provider_lines:
        theirs[(line.kind, line.reference)].append(line)
    for booked in booked_lines:
        ours[(booked.kind, booked.reference)].append(booked)
    for key in sorted(theirs.keys() | ours.keys()):
        pairs, left, right = _pair(theirs.get(key, []), ours.get(key, []))
        result.provider_only += left
        result.booked_only += right
        for line, booked in pairs:
            if line.amount == booked.amount:
                result.matched.append((line, booked))
            else:
                kind = (
                    CURRENCY_MISMATCH if line.amount.currency != booked.amount.currency else AMOUNT_MISMATCH
                )
                result.mismatched.append(
                    Difference(
                        kind=kind,
                        line_kind=line.kind,
                        reference=line.reference,
                        payment_id=booked.payment_id,
                        refund_no=line.refund_no or booked.refund_no,
                        provider_amount=line.amount,
                        booked_amount=booked.amount,
                    )
                )
    return result


def _pair(
    theirs: list[StatementLine], ours: list[BookedLine]
) -> tuple[list[tuple[StatementLine, BookedLine]], list[StatementLine], list[BookedLine]]:
    """Same request number first, then same amount, then whatever is left, in order."""
    left, right = list(theirs), list(ours)
    pairs: list[tuple[StatementLine, BookedLine]] = []
    for same in (
        lambda a, b: a.refund_no is not None and a.refund_no == b.refund_no,
        lambda a, b: a.amount == b.amount,
        lambda a, b: True,
    ):
        for line in list(left):
            match = next((booked for booked in right if same(line, booked)), None)
            if match is not None:
                pairs.append((line, match))
                left.remove(line)
                right.remove(match)
    return pairs, left, right


def totals_of(
    statement: Iterable[StatementLine], booked: Iterable[BookedLine], matched: Iterable[StatementLine]
) -> dict[str, dict[str, int]]:
    totals: dict[str, dict[str, int]] = defaultdict(
        lambda: {
            f"{side}_{kind}s": 0 for side in ("provider", "booked", "matched") for kind in (PAYMENT, REFUND)
        }
    )
    for side, lines in (("provider", statement), ("booked", booked), ("matched", matched)):
        for line in lines:
            totals[line.amount.currency][f"{side}_{line.kind}s"] += line.amount.amount
    return dict(sorted(totals.items()))


# --- our side: the postings on the provider's clearing account ---------------------------------


def hk_day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time.min, tzinfo=HONG_KONG)
    return start, start + timedelta(days=1)


def booked_lines(session: Session, provider: str, day: date) -> list[BookedLine]:
    """What our ledger moved through ``clearing:<provider>`` during the Hong Kong day."""
    start, end = hk_day_bounds(day)
    entries: list[ledger.Entry] = []
    cursor: tuple[datetime, str] | None = (end, "")
    while cursor is not None:
        page = ledger.entries_of(session, f"clearing:{provider}", limit=_PAGE, before=cursor)
        entries += [entry for entry, _ in page if entry.at >= start]
        last = page[-1] if page else None
        cursor = (
            (last[0].at, last[1]) if last is not None and len(page) == _PAGE and last[0].at >= start else None
        )
    payments = _payments(session, {entry.reference for entry in entries})
    lines = []
    for entry in entries:
        if entry.amount.amount == 0:
            continue
        kind = _POSTING_KINDS.get(entry.kind, PAYMENT if entry.amount.amount > 0 else REFUND)
        payment = payments.get(entry.reference)
        lines.append(
            BookedLine(
                kind=kind,
                reference=(payment.reference or payment.id) if payment else entry.reference,
                payment_id=payment.id if payment else None,
                amount=Money(abs(entry.amount.amount), entry.amount.currency),
                at=entry.at,
            )
        )
    return lines


def _payments(session: Session, ids: set[str]) -> dict[str, Payment]:
    if not ids:
        return {}
    return {payment.id: payment for payment in session.scalars(select(Payment).where(Payment.id.in_(ids)))}


def booked_days(session: Session, provider: str, references: set[str]) -> dict[tuple[str, str], list[date]]:
    """On which Hong Kong days we booked each (kind, provider reference), whatever the day."""
    found: dict[tuple[str, str], list[date]] = defaultdict(list)
    if not references:
        return found
    payments = session.scalars(
        select(Payment).where(Payment.provider == provider, Payment.reference.in_(references))
    ).all()
    for payment in payments:
        for posting in ledger.postings_for(session, payment.id):
            kind = _POSTING_KINDS.get(posting.kind)
            if kind is not None and payment.reference is not None:
                found[(kind, payment.reference)].append(hk_date(posting.created_at))
    return found


# --- the use case ---------------------------------------------------------------------------------


def statement_source(runtime: Runtime, provider: str) -> StatementSource:
    source = runtime.providers.get(provider)
    if not isinstance(source, StatementSource):
        raise NoStatement(provider)
    return source


def reconcile_day(runtime: Runtime, *, provider: str, day: date) -> ReconciliationReport:
    """Compare one provider's statement of ``day`` with our books and store what differs.

    The provider is asked outside any transaction; the comparison reads in one, and the
    results replace the day's earlier run in another.
    """
    source = statement_source(runtime, provider)
    statement = source.download_statement(day)
    with runtime.sessions() as session, transaction(session):
        booked = booked_lines(session, provider, day)
        comparison = compare(statement.lines, booked)
        elsewhere = booked_days(session, provider, {line.reference for line in comparison.provider_only})
    earlier: Statement | None = None
    if comparison.booked_only:
        # Our booking follows the provider's: a line we booked today may be on yesterday's statement.
        earlier = source.download_statement(day - timedelta(days=1))
    differences = _differences(day, comparison, elsewhere, earlier)
    report = ReconciliationReport(
        provider=provider,
        day=day,
        matched_payments=sum(1 for line, _ in comparison.matched if line.kind == PAYMENT),
        matched_refunds=sum(1 for line, _ in comparison.matched if line.kind == REFUND),
        totals=totals_of(statement.lines, booked, [line for line, _ in comparison.matched]),
        differences=tuple(differences),
    )
    try:
        _store(runtime, report)
    except IntegrityError:
        _store(runtime, report)  # another run of the same day was first: replace it in turn
    return report


def _differences(
    day: date,
    comparison: Comparison,
    elsewhere: dict[tuple[str, str], list[date]],
    earlier: Statement | None,
) -> list[Difference]:
    found = list(comparison.mismatched)
    for line in comparison.provider_only:
        days = [other for other in elsewhere.get((line.kind, line.reference), []) if other != day]
        found.append(
            Difference(
                kind=BOOKED_ON_OTHER_DAY if days else MISSING_IN_BOOKS,
                line_kind=line.kind,
                reference=line.reference,
                refund_no=line.refund_no,
                provider_amount=line.amount,
                other_day=min(days) if days else None,
            )
        )
    earlier_keys = {(line.kind, line.reference) for line in earlier.lines} if earlier else set()
    for booked in comparison.booked_only:
        seen_earlier = (booked.kind, booked.reference) in earlier_keys
        found.append(
            Difference(
                kind=BOOKED_ON_OTHER_DAY if seen_earlier else MISSING_AT_PROVIDER,
                line_kind=booked.kind,
                reference=booked.reference,
                payment_id=booked.payment_id,
                refund_no=booked.refund_no,
                booked_amount=booked.amount,
                other_day=day - timedelta(days=1) if seen_earlier else None,
            )
        )
    return sorted(found, key=lambda d: (d.kind, d.line_kind, d.reference, d.refund_no or ""))


def _store(runtime: Runtime, report: ReconciliationReport) -> None:
    with runtime.sessions() as session, transaction(session):
        now = runtime.clock.now()
        run = session.scalars(
            select(ReconciliationRun)
            .where(ReconciliationRun.provider == report.provider, ReconciliationRun.day == report.day)
            .with_for_update()
        ).one_or_none()
        if run is None:
            run = ReconciliationRun(id=new_id("rcn"), provider=report.provider, day=report.day)
            session.add(run)
        else:
            session.execute(delete(ReconciliationDifference).where(ReconciliationDifference.run_id == run.id))
        run.status = CLEAN if report.clean else DIFFERENCES
        run.matched_payments, run.matched_refunds = report.matched_payments, report.matched_refunds
        run.difference_count, run.totals, run.ran_at = len(report.differences), report.totals, now
        session.flush()  # a racing first run of the same day fails here, inside the transaction
        session.add_all(
            ReconciliationDifference(
                id=new_id("rcd"),
                run_id=run.id,
                kind=d.kind,
                line_kind=d.line_kind,
                reference=d.reference[:64],
                payment_id=d.payment_id,
                refund_no=d.refund_no[:64] if d.refund_no else None,
                provider_amount=d.provider_amount.amount if d.provider_amount else None,
                provider_currency=d.provider_amount.currency if d.provider_amount else None,
                booked_amount=d.booked_amount.amount if d.booked_amount else None,
                booked_currency=d.booked_amount.currency if d.booked_amount else None,
                other_day=d.other_day,
            )
            for d in report.differences
        )


def get_run(session: Session, *, provider: str, day: date) -> ReconciliationRun | None:
    return session.scalars(
        select(ReconciliationRun).where(ReconciliationRun.provider == provider, ReconciliationRun.day == day)
    ).one_or_none()


def differences_of(session: Session, run_id: str) -> list[ReconciliationDifference]:
    return list(
        session.scalars(
            select(ReconciliationDifference)
            .where(ReconciliationDifference.run_id == run_id)
            .order_by(ReconciliationDifference.kind, ReconciliationDifference.reference)
        )
    )


# --- reading it out -------------------------------------------------------------------------------


def _money(value: Money | None) -> str:
    return f"{value.currency} {value.to_decimal()}" if value is not None else "-"


def report_lines(report: ReconciliationReport) -> list[str]:
    """The report as staff read it: counts, totals and each difference; references only, no payer data."""
    head = f"{report.provider} {report.day.isoformat()}: {'clean' if report.clean else 'DIFFERENCES'}"
    lines = [
        head,
        f"  matched: {report.matched_payments} payments, {report.matched_refunds} refunds",
    ]
    for currency, sums in report.totals.items():
        shown = ", ".join(f"{name} {_money(Money(value, currency))}" for name, value in sums.items())
        lines.append(f"  {currency}: {shown}")
    lines.append(f"  differences: {len(report.differences)}")
    for d in report.differences:
        parts = [f"    {d.kind}", d.line_kind, d.reference]
        if d.payment_id and d.payment_id != d.reference:
            parts.append(f"payment={d.payment_id}")
        if d.refund_no:
            parts.append(f"refund_no={d.refund_no}")
        parts += [f"provider={_money(d.provider_amount)}", f"booked={_money(d.booked_amount)}"]
        if d.other_day:
            parts.append(f"other_day={d.other_day.isoformat()}")
        lines.append(" ".join(parts))
    return lines


# --- the daily sweep ------------------------------------------------------------------------------


def reconcile_yesterday(runtime: Runtime, payload: dict[str, Any]) -> None:
    """The hourly sweep: once a day, when the providers have published it, yesterday (Hong Kong).

    Alipay and WeChat Pay publish a day's bill at about 09:00–10:00 China time, and answer
    "no bill" before that, which would read as a day without trades: nothing is compared
    before ``reconcile_after_hk_hour``, and a provider already reconciled for the day is skipped.
    """
    period = datetime.fromisoformat(str(payload["period"]))
    if period.astimezone(HONG_KONG).hour < runtime.settings.reconcile_after_hk_hour:
        return
    day = hk_date(period) - timedelta(days=1)
    with runtime.sessions() as session, transaction(session):
        done = {p for p in runtime.providers if get_run(session, provider=p, day=day) is not None}
    failed: Exception | None = None
    for provider in sorted(set(runtime.providers) - done):
        try:
            report = reconcile_day(runtime, provider=provider, day=day)
        except NoStatement:
            continue
        except Exception as error:  # the others still get reconciled; the job is retried for this one
            log.warning(
                "reconciliation could not run",
                extra={"provider": provider, "day": day.isoformat(), "error": type(error).__name__},
            )
            failed = failed or error
            continue
        if not report.clean:
            kinds: dict[str, int] = defaultdict(int)
            for difference in report.differences:
                kinds[difference.kind] += 1
            log.warning(
                "reconciliation found differences",
                extra={
                    "provider": provider,
                    "day": day.isoformat(),
                    "differences": len(report.differences),
                    "kinds": dict(kinds),
                },
            )
    if failed is not None:
        raise failed

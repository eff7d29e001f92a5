"""Pairing a statement with our books: every line is matched, mismatched or left over, never lost."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from crossbay.money import Money
from crossbay.payments.reconciliation import (
    AMOUNT_MISMATCH,
    CURRENCY_MISMATCH,
    BookedLine,
    compare,
    totals_of,
)
from crossbay.payments.statements import PAYMENT, REFUND, StatementLine

AT = datetime(2026, 11, 26, 4, 0, tzinfo=UTC)


def theirs(
    kind: str, reference: str, amount: int, currency: str = "HKD", refund_no: str | None = None
) -> StatementLine:
    return StatementLine(kind=kind, reference=reference, amount=Money(amount, currency), refund_no=refund_no)


def ours(kind: str, reference: str, amount: int, currency: str = "HKD") -> BookedLine:
    return BookedLine(
        kind=kind, reference=reference, payment_id=f"id-{reference}", amount=Money(amount, currency), at=AT
    )


def test_the_same_lines_on_both_sides_all_match() -> None:
    result = compare(
        [theirs(PAYMENT, "a", 8800), theirs(REFUND, "a", 8800, refund_no="re_1"), theirs(PAYMENT, "b", 100)],
        [ours(PAYMENT, "b", 100), ours(REFUND, "a", 8800), ours(PAYMENT, "a", 8800)],
    )
    assert len(result.matched) == 3
    assert not (result.mismatched or result.provider_only or result.booked_only)


def test_lines_on_one_side_only_are_left_over() -> None:
    result = compare([theirs(PAYMENT, "a", 8800), theirs(REFUND, "b", 50)], [ours(PAYMENT, "c", 10)])
    assert [line.reference for line in result.provider_only] == ["a", "b"]
    assert [line.reference for line in result.booked_only] == ["c"]


def test_amount_and_currency_mismatches_are_told_apart() -> None:
    result = compare(
        [theirs(PAYMENT, "a", 8801), theirs(PAYMENT, "b", 8800, "CNY")],
        [ours(PAYMENT, "a", 8800), ours(PAYMENT, "b", 8800)],
    )
    assert [(d.kind, d.reference, d.provider_amount, d.booked_amount) for d in result.mismatched] == [
        (AMOUNT_MISMATCH, "a", Money(8801, "HKD"), Money(8800, "HKD")),
        (CURRENCY_MISMATCH, "b", Money(8800, "CNY"), Money(8800, "HKD")),
    ]


def test_a_second_refund_at_the_provider_pairs_by_amount_and_the_other_is_left_over() -> None:
    result = compare(
        [theirs(REFUND, "a", 300, refund_no="console-1"), theirs(REFUND, "a", 8800, refund_no="re_2")],
        [ours(REFUND, "a", 8800)],
    )
    assert [(line.refund_no, booked.amount.amount) for line, booked in result.matched] == [("re_2", 8800)]
    assert [line.refund_no for line in result.provider_only] == ["console-1"]


def test_totals_per_currency_and_side() -> None:
    totals = totals_of(
        [theirs(PAYMENT, "a", 8800), theirs(REFUND, "a", 8800)],
        [ours(PAYMENT, "a", 8800)],
        [theirs(PAYMENT, "a", 8800)],
    )
    assert totals["HKD"]["provider_payments"] == 8800 and totals["HKD"]["provider_refunds"] == 8800
    assert totals["HKD"]["booked_payments"] == 8800 and totals["HKD"]["booked_refunds"] == 0
    assert totals["HKD"]["matched_payments"] == 8800


_lines = st.tuples(
    st.sampled_from([PAYMENT, REFUND]),
    st.sampled_from(["a", "b", "c"]),
    st.integers(min_value=1, max_value=3),
    st.sampled_from(["HKD", "CNY"]),
)


@given(st.lists(_lines, max_size=8), st.lists(_lines, max_size=8))
def test_no_line_is_lost_or_counted_twice(
    provider: list[tuple[str, str, int, str]], booked: list[tuple[str, str, int, str]]
) -> None:
    statement = [theirs(kind, ref, amount, currency) for kind, ref, amount, currency in provider]
    books = [ours(kind, ref, amount, currency) for kind, ref, amount, currency in booked]

    result = compare(statement, books)

    paired = len(result.matched) + len(result.mismatched)
    assert paired + len(result.provider_only) == len(statement)
    assert paired + len(result.booked_only) == len(books)
    assert all(line.amount == booked_line.amount for line, booked_line in result.matched)
    # Identical sides reconcile clean, whatever the order.
    same = compare(
        statement,
        [
            ours(line.kind, line.reference, line.amount.amount, line.amount.currency)
            for line in reversed(statement)
        ],
    )
    assert len(same.matched) == len(statement) and not same.mismatched

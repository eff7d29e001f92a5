from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crossbay.clock import FrozenClock
from crossbay.db import transaction
from crossbay.ledger import service as ledger
from crossbay.ledger.models import LedgerAccount, LedgerEntry, LedgerTransaction
from crossbay.ledger.service import Line, UnbalancedPosting, check_balanced
from crossbay.money import Money

CURRENCIES = ("HKD", "CNY", "MOP")
ACCOUNT_KINDS = ("clearing", "unearned", "revenue", "wallet", "refunds")


def hkd(amount: int) -> Money:
    return Money(amount, "HKD")


def capture(amount: int, account: str = "clearing:card") -> list[Line]:
    return [Line(account, hkd(amount)), Line("unearned:orders", hkd(-amount))]


@st.composite
def balanced_postings(draw: st.DrawFn) -> list[Line]:
    """Lines over one or more currencies, each currency netting to zero over at least two accounts."""
    lines: list[Line] = []
    for currency in draw(st.lists(st.sampled_from(CURRENCIES), min_size=1, max_size=3, unique=True)):
        amounts = draw(st.lists(st.integers(-(10**9), 10**9), min_size=1, max_size=5))
        # Accounts are per currency: an account holds one currency only.
        accounts = draw(
            st.lists(st.sampled_from(ACCOUNT_KINDS), min_size=len(amounts) + 1, max_size=len(amounts) + 1)
        )
        codes = [f"{kind}:{currency.lower()}-{i}" for i, kind in enumerate(accounts)]
        lines += [Line(code, Money(amount, currency)) for code, amount in zip(codes, amounts, strict=False)]
        lines.append(Line(codes[-1], Money(-sum(amounts), currency)))
    return lines


class TestCheckBalanced:
    @given(balanced_postings())
    def test_accepts_lines_that_net_to_zero_in_every_currency(self, lines: list[Line]) -> None:
        check_balanced(lines)

    @given(balanced_postings(), st.integers(min_value=1, max_value=10**6), st.data())
    def test_refuses_lines_off_by_any_amount_in_any_currency(
        self, lines: list[Line], off: int, data: st.DataObject
    ) -> None:
        index = data.draw(st.integers(0, len(lines) - 1))
        broken = list(lines)
        line = broken[index]
        broken[index] = Line(line.account, line.amount + Money(off, line.amount.currency))
        with pytest.raises(UnbalancedPosting):
            check_balanced(broken)

    def test_refuses_an_empty_posting(self) -> None:
        with pytest.raises(UnbalancedPosting):
            check_balanced([])

    def test_refuses_a_posting_that_touches_one_account(self) -> None:
        with pytest.raises(UnbalancedPosting):
            check_balanced([Line("wallet:cus_1", hkd(500)), Line("wallet:cus_1", hkd(-500))])

    def test_refuses_a_posting_balanced_only_across_currencies(self) -> None:
        with pytest.raises(UnbalancedPosting):
            check_balanced([Line("clearing:card", hkd(100)), Line("unearned:orders", Money(-100, "CNY"))])


def entry_count(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(LedgerEntry)) or 0)


class TestPost:
    def test_records_a_balanced_posting_with_its_entries(self, session: Session, clock: FrozenClock) -> None:
        with transaction(session):
            tx = ledger.post(
                session, kind="payment.captured", reference="pay_1", lines=capture(8800), now=clock.now()
            )
        with transaction(session):
            stored = session.scalars(select(LedgerEntry).where(LedgerEntry.transaction_id == tx.id)).all()
            assert sorted(e.amount for e in stored) == [-8800, 8800]
            assert ledger.account_balance(session, "clearing:card", "HKD") == hkd(8800)
            assert ledger.account_balance(session, "unearned:orders", "HKD") == hkd(-8800)

    def test_refuses_an_unbalanced_posting_and_writes_nothing(
        self, session: Session, clock: FrozenClock
    ) -> None:
        lines = [Line("clearing:card", hkd(8800)), Line("unearned:orders", hkd(-8700))]
        with pytest.raises(UnbalancedPosting), transaction(session):
            ledger.post(session, kind="payment.captured", reference="pay_1", lines=lines, now=clock.now())
        with transaction(session):
            assert entry_count(session) == 0
            assert ledger.postings_for(session, "pay_1") == []

    def test_posts_once_per_kind_and_reference(self, session: Session, clock: FrozenClock) -> None:
        with transaction(session):
            first = ledger.post(
                session, kind="payment.captured", reference="pay_1", lines=capture(8800), now=clock.now()
            )
        with transaction(session):
            again = ledger.post(
                session, kind="payment.captured", reference="pay_1", lines=capture(8800), now=clock.now()
            )
        with transaction(session):
            assert again.id == first.id
            assert entry_count(session) == 2
            assert ledger.account_balance(session, "clearing:card", "HKD") == hkd(8800)

    def test_the_same_reference_posts_once_per_kind(self, session: Session, clock: FrozenClock) -> None:
        with transaction(session):
            ledger.post(
                session, kind="payment.captured", reference="pay_1", lines=capture(8800), now=clock.now()
            )
            ledger.post(
                session, kind="payment.refunded", reference="pay_1", lines=capture(-8800), now=clock.now()
            )
        with transaction(session):
            assert {tx.kind for tx in ledger.postings_for(session, "pay_1")} == {
                "payment.captured",
                "payment.refunded",
            }
            assert ledger.account_balance(session, "clearing:card", "HKD") == hkd(0)

    def test_each_currency_has_its_own_account_under_one_code(
        self, session: Session, clock: FrozenClock
    ) -> None:
        with transaction(session):
            ledger.post(
                session, kind="payment.captured", reference="pay_1", lines=capture(8800), now=clock.now()
            )
        lines = [Line("clearing:card", Money(8100, "CNY")), Line("unearned:orders", Money(-8100, "CNY"))]
        with transaction(session):
            ledger.post(session, kind="payment.captured", reference="pay_2", lines=lines, now=clock.now())
        with transaction(session):
            assert ledger.account_balance(session, "clearing:card", "HKD") == hkd(8800)
            assert ledger.account_balance(session, "clearing:card", "CNY") == Money(8100, "CNY")
            accounts = session.scalars(select(LedgerAccount).where(LedgerAccount.code == "clearing:card"))
            assert sorted(account.currency for account in accounts) == ["CNY", "HKD"]
            assert ledger.check_ledger(session).ok


class TestTrialBalance:
    def test_is_empty_before_any_posting(self, session: Session) -> None:
        with transaction(session):
            assert ledger.trial_balance(session) == {}

    @settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(st.lists(balanced_postings(), min_size=1, max_size=4))
    def test_is_zero_in_every_currency_after_balanced_postings(
        self, session: Session, clock: FrozenClock, postings: list[list[Line]]
    ) -> None:
        # Examples share the test's session, so the books accumulate across them: still whole.
        with transaction(session):
            for lines in postings:
                ledger.post(
                    session, kind="test.posting", reference=uuid.uuid4().hex, lines=lines, now=clock.now()
                )
        with transaction(session):
            balance = ledger.trial_balance(session)
        touched = {line.amount.currency for lines in postings for line in lines}
        assert touched <= balance.keys()
        assert all(total == 0 for total in balance.values()), balance

    def test_account_balances_sum_to_what_was_posted(self, session: Session, clock: FrozenClock) -> None:
        expected: dict[str, int] = defaultdict(int)
        with transaction(session):
            for i, amount in enumerate([8800, 4800, 12800]):
                for line in capture(amount, account=f"clearing:provider-{i % 2}"):
                    expected[line.account] += line.amount.amount
                ledger.post(
                    session,
                    kind="payment.captured",
                    reference=f"pay_{i}",
                    lines=capture(amount, account=f"clearing:provider-{i % 2}"),
                    now=clock.now(),
                )
        with transaction(session):
            for code, total in expected.items():
                assert ledger.account_balance(session, code, "HKD") == hkd(total)


class TestWalletBalance:
    def top_up(self, session: Session, customer_id: str, amount: int, reference: str, now: datetime) -> None:
        ledger.post(
            session,
            kind="wallet.topup",
            reference=reference,
            now=now,
            lines=[Line("clearing:card", hkd(amount)), Line(f"wallet:{customer_id}", hkd(-amount))],
        )

    def test_money_paid_into_the_wallet_shows_as_a_positive_balance(
        self, session: Session, clock: FrozenClock
    ) -> None:
        with transaction(session):
            self.top_up(session, "cus_1", 50000, "top_1", clock.now())
        with transaction(session):
            assert ledger.wallet_balance(session, "cus_1") == hkd(50000)
            # The wallet is our liability: its debit-positive account balance is negative.
            assert ledger.account_balance(session, "wallet:cus_1", "HKD") == hkd(-50000)

    def test_spending_from_the_wallet_lowers_the_balance(self, session: Session, clock: FrozenClock) -> None:
        with transaction(session):
            self.top_up(session, "cus_1", 50000, "top_1", clock.now())
            ledger.post(
                session,
                kind="wallet.payment",
                reference="ord_1",
                now=clock.now(),
                lines=[Line("wallet:cus_1", hkd(8800)), Line("unearned:orders", hkd(-8800))],
            )
        with transaction(session):
            assert ledger.wallet_balance(session, "cus_1") == hkd(41200)

    def test_a_customer_without_postings_has_zero(self, session: Session, clock: FrozenClock) -> None:
        with transaction(session):
            self.top_up(session, "cus_1", 50000, "top_1", clock.now())
        with transaction(session):
            assert ledger.wallet_balance(session, "cus_2") == hkd(0)


def test_ledger_transaction_kind_and_reference_are_unique_in_the_schema() -> None:
    constraints = {
        tuple(c.name for c in uc.columns)
        for uc in LedgerTransaction.__table__.constraints
        if hasattr(uc, "columns") and len(uc.columns) == 2
    }
    assert ("kind", "reference") in constraints


class TestCheckLedger:
    def test_balanced_books_pass(self, session: Session, clock: FrozenClock) -> None:
        with transaction(session):
            ledger.post(
                session,
                kind="t",
                reference=uuid.uuid4().hex,
                now=clock.now(),
                lines=[Line("clearing:card", Money(500, "HKD")), Line("wallet:cus_a", Money(-500, "HKD"))],
            )
            assert ledger.check_ledger(session).ok

    def test_a_tampered_entry_and_an_overdrawn_wallet_are_found(
        self, session: Session, clock: FrozenClock
    ) -> None:
        with transaction(session):
            tx = ledger.post(
                session,
                kind="t",
                reference=uuid.uuid4().hex,
                now=clock.now(),
                lines=[Line("wallet:cus_b", Money(700, "HKD")), Line("unearned:orders", Money(-700, "HKD"))],
            )
            session.flush()
            # Someone edits one side of a posting behind the ledger's back.
            entry = session.scalars(select(LedgerEntry).where(LedgerEntry.transaction_id == tx.id)).first()
            assert entry is not None
            entry.amount += 1
            session.flush()
            result = ledger.check_ledger(session)
        assert not result.ok
        assert tx.id in result.unbalanced
        assert result.trial_balance == {"HKD": 1}
        assert "wallet:cus_b" in result.negative_wallets

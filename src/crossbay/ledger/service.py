"""Double-entry ledger: the only place a balance changes.

Debits are positive and credits negative; every posting sums to zero per
currency, and each currency has its own account under one code (money paid in
CNY stays CNY: nothing here converts). Account codes name what they hold:

- ``clearing:<provider>``  asset: money a payment provider holds for us
- ``unearned:orders``      liability: paid for, not yet delivered
- ``revenue:sales``        revenue: delivered
- ``wallet:<customer>``    liability: a customer's stored value
- ``discounts:promotions`` contra-revenue: what promotions took off delivered orders
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from crossbay.db import new_id
from crossbay.ledger.models import LedgerAccount, LedgerEntry, LedgerTransaction
from crossbay.money import Money
from crossbay.paging import Cursor, newest_first

ACCOUNT_KINDS = {
    "clearing": "asset",
    "unearned": "liability",
    "revenue": "revenue",
    "wallet": "liability",
    "refunds": "liability",
    "discounts": "revenue",  # contra-revenue: discounts:promotions, a debit balance beside revenue:sales
}


class UnbalancedPosting(ValueError):
    pass


@dataclass(frozen=True)
class Line:
    account: str
    amount: Money


def check_balanced(lines: Iterable[Line]) -> None:
    """A posting must net to zero in every currency and touch at least two accounts."""
    totals: dict[str, int] = defaultdict(int)
    accounts = set()
    for line in lines:
        totals[line.amount.currency] += line.amount.amount
        accounts.add(line.account)
    if not totals or any(totals.values()) or len(accounts) < 2:
        raise UnbalancedPosting(f"posting does not balance: {dict(totals)}")


def balance_of(amounts: Iterable[int]) -> int:
    return sum(amounts)


def _account(session: Session, code: str, currency: str, now: datetime) -> LedgerAccount:
    which = (LedgerAccount.code == code) & (LedgerAccount.currency == currency)
    account = session.scalar(select(LedgerAccount).where(which))
    if account is None:
        # Created inside a savepoint: two transactions may race to create the same account.
        try:
            with session.begin_nested():
                account = LedgerAccount(
                    id=new_id("acc"),
                    code=code,
                    currency=currency,
                    kind=ACCOUNT_KINDS[code.split(":", 1)[0]],
                    created_at=now,
                )
                session.add(account)
        except IntegrityError:
            account = session.scalars(select(LedgerAccount).where(which)).one()
    return account


def post(
    session: Session, *, kind: str, reference: str, lines: list[Line], now: datetime
) -> LedgerTransaction:
    """Record a balanced posting in the caller's transaction; (kind, reference) posts once only."""
    check_balanced(lines)
    existing = session.scalar(
        select(LedgerTransaction).where(
            LedgerTransaction.kind == kind, LedgerTransaction.reference == reference
        )
    )
    if existing is not None:
        return existing
    tx = LedgerTransaction(id=new_id("ltx"), kind=kind, reference=reference, created_at=now)
    session.add(tx)
    for line in lines:
        account = _account(session, line.account, line.amount.currency, now)
        session.add(
            LedgerEntry(
                id=new_id("len"),
                transaction=tx,
                account_id=account.id,
                amount=line.amount.amount,
                currency=line.amount.currency,
            )
        )
    return tx


def lock_account(session: Session, code: str, currency: str, now: datetime) -> None:
    """Hold the account's row until the transaction ends: spends from one wallet happen one at a time."""
    account_id = _account(session, code, currency, now).id
    session.scalars(select(LedgerAccount.id).where(LedgerAccount.id == account_id).with_for_update()).one()


@dataclass(frozen=True)
class Entry:
    at: datetime
    amount: Money
    kind: str
    reference: str


def entries_of(
    session: Session, code: str, *, limit: int, before: Cursor | None = None
) -> list[tuple[Entry, str]]:
    """An account's entries, newest first, each with its entry id (the page cursor)."""
    query = (
        select(LedgerEntry, LedgerTransaction)
        .join(LedgerTransaction, LedgerEntry.transaction_id == LedgerTransaction.id)
        .join(LedgerAccount, LedgerEntry.account_id == LedgerAccount.id)
        .where(LedgerAccount.code == code)
    )
    rows = session.execute(
        newest_first(query, LedgerTransaction.created_at, LedgerEntry.id, before=before, limit=limit)
    )
    return [
        (Entry(tx.created_at, Money(entry.amount, entry.currency), tx.kind, tx.reference), entry.id)
        for entry, tx in rows
    ]


def account_balance(session: Session, code: str, currency: str) -> Money:
    """Debit-positive balance of an account (zero if it has never been posted to)."""
    total = session.scalar(
        select(func.coalesce(func.sum(LedgerEntry.amount), 0))
        .join(LedgerAccount, LedgerEntry.account_id == LedgerAccount.id)
        .where(LedgerAccount.code == code, LedgerEntry.currency == currency)
    )
    return Money(int(total or 0), currency)


def wallet_balance(session: Session, customer_id: str, currency: str = "HKD") -> Money:
    """What the customer holds: the wallet is our liability, so its credit balance is positive to them."""
    return -account_balance(session, f"wallet:{customer_id}", currency)


def postings_for(session: Session, reference: str) -> list[LedgerTransaction]:
    return list(session.scalars(select(LedgerTransaction).where(LedgerTransaction.reference == reference)))


@dataclass(frozen=True)
class LedgerCheck:
    transactions: int
    unbalanced: list[str]  # transaction ids whose entries do not net to zero per currency
    trial_balance: dict[str, int]
    negative_wallets: list[str]  # account codes of wallets holding less than nothing
    # Entries in another currency than their account's: money converted where nothing may convert.
    mixed_currency_entries: int = 0

    @property
    def ok(self) -> bool:
        return (
            not self.unbalanced
            and not any(self.trial_balance.values())
            and not self.negative_wallets
            and not self.mixed_currency_entries
        )


def check_ledger(session: Session) -> LedgerCheck:
    """Every posting balances, the books as a whole balance, and no wallet is overdrawn.

    Balances are never stored, only derived from postings, so "balance equals
    the sum of its postings" holds by construction; these are the checks left.
    """
    per_transaction = session.execute(
        select(LedgerEntry.transaction_id, LedgerEntry.currency, func.sum(LedgerEntry.amount)).group_by(
            LedgerEntry.transaction_id, LedgerEntry.currency
        )
    ).all()
    unbalanced = sorted({tx_id for tx_id, _, total in per_transaction if total})
    wallets = session.execute(
        select(LedgerAccount.code, func.sum(LedgerEntry.amount))
        .join(LedgerEntry, LedgerEntry.account_id == LedgerAccount.id)
        .where(LedgerAccount.code.like("wallet:%"))
        .group_by(LedgerAccount.code, LedgerAccount.currency)
    ).all()
    mixed = session.scalar(
        select(func.count())
        .select_from(LedgerEntry)
        .join(LedgerAccount, LedgerEntry.account_id == LedgerAccount.id)
        .where(LedgerEntry.currency != LedgerAccount.currency)
    )
    count = session.scalar(select(func.count()).select_from(LedgerTransaction)) or 0
    return LedgerCheck(
        transactions=int(count),
        unbalanced=unbalanced,
        trial_balance=trial_balance(session),
        # A wallet is our liability: its debit-positive sum must never be above zero.
        negative_wallets=sorted(code for code, total in wallets if total > 0),
        mixed_currency_entries=int(mixed or 0),
    )


def trial_balance(session: Session) -> dict[str, int]:
    """Sum of all entries per currency: zero in every currency when the books are whole."""
    rows = session.execute(
        select(LedgerEntry.currency, func.sum(LedgerEntry.amount)).group_by(LedgerEntry.currency)
    )
    return {currency: int(total) for currency, total in rows}

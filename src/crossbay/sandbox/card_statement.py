"""The sandbox card provider's balance transactions: written as money moves, listed as Stripe lists them.

``GET /v1/balance_transactions`` answers newest first, ``limit`` (1–100) at a time, with
``starting_after`` to page on, ``created[gte|gt|lt|lte]`` and ``type`` filters, and
``expand[]=data.source`` to carry each charge or refund object instead of its id.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from crossbay.db import new_id
from crossbay.sandbox.card_models import SandboxCardBalanceTransaction, SandboxCardRefund

_KNOWN = {"limit", "starting_after", "ending_before", "type", "expand[]", "currency"}
_CREATED = {"created[gte]", "created[gt]", "created[lt]", "created[lte]"}
FEE_PERMILLE, FEE_FIXED = 34, 235  # the sandbox's card rate: 3.4% + 2.35 per charge


class ListRefused(Exception):
    def __init__(self, message: str, code: str, param: str) -> None:
        super().__init__(message)
        self.message, self.code, self.param = message, code, param


def record_charge(
    session: Session, *, charge_id: str, intent_id: str, amount: int, currency: str, now: datetime
) -> None:
    fee = amount * FEE_PERMILLE // 1000 + FEE_FIXED
    _record(session, "charge", charge_id, intent_id, amount, min(fee, amount), currency, now)


def record_refund(
    session: Session, *, refund_id: str, intent_id: str, amount: int, currency: str, now: datetime
) -> None:
    # The fee of a refunded charge is not given back, as at Stripe.
    _record(session, "refund", refund_id, intent_id, -amount, 0, currency, now)


def _record(
    session: Session,
    kind: str,
    source_id: str,
    intent_id: str,
    amount: int,
    fee: int,
    currency: str,
    now: datetime,
) -> None:
    session.add(
        SandboxCardBalanceTransaction(
            id=new_id("txn"),
            type=kind,
            source_id=source_id,
            intent_id=intent_id,
            amount=amount,
            fee=fee,
            currency=currency,
            created_at=now,
        )
    )


def list_balance_transactions(session: Session, items: list[tuple[str, str]]) -> dict[str, Any]:
    """One page of the list, as Stripe answers it; ListRefused for parameters it would refuse."""
    params = dict(items)
    for key, _ in items:
        if key not in _KNOWN and key not in _CREATED:
            raise ListRefused(f"Received unknown parameter: {key}", "parameter_unknown", key)
    limit_text = params.get("limit", "10")
    if not (limit_text.isdigit() and 1 <= int(limit_text) <= 100):
        raise ListRefused(
            "Invalid integer: limit must be between 1 and 100", "parameter_invalid_integer", "limit"
        )
    expand = [value for key, value in items if key == "expand[]"]
    if any(value != "data.source" for value in expand):
        raise ListRefused("This property cannot be expanded.", "parameter_invalid", "expand")
    query = _filtered(select(SandboxCardBalanceTransaction), params)
    after = params.get("starting_after")
    if after is not None:
        cursor = session.get(SandboxCardBalanceTransaction, after)
        if cursor is None:
            raise ListRefused(f"No such balance transaction: '{after}'", "resource_missing", "starting_after")
        query = query.where(
            (SandboxCardBalanceTransaction.created_at < cursor.created_at)
            | (
                (SandboxCardBalanceTransaction.created_at == cursor.created_at)
                & (SandboxCardBalanceTransaction.id < cursor.id)
            )
        )
    limit = int(limit_text)
    rows = session.scalars(
        query.order_by(
            SandboxCardBalanceTransaction.created_at.desc(), SandboxCardBalanceTransaction.id.desc()
        ).limit(limit + 1)
    ).all()
    refunds = _refunds(session, [row.source_id for row in rows[:limit] if row.type == "refund"])
    return {
        "object": "list",
        "url": "/v1/balance_transactions",
        "has_more": len(rows) > limit,
        "data": [_json(row, refunds, expand=bool(expand)) for row in rows[:limit]],
    }


def _filtered(
    query: Select[SandboxCardBalanceTransaction], params: dict[str, str]
) -> Select[SandboxCardBalanceTransaction]:
    column = SandboxCardBalanceTransaction.created_at
    for key in _CREATED & params.keys():
        value = params[key]
        if not value.isdigit():
            raise ListRefused(f"Invalid timestamp: {key}", "parameter_invalid_integer", key)
        at = datetime.fromtimestamp(int(value), UTC)
        comparison = {
            "created[gte]": column >= at,
            "created[gt]": column > at,
            "created[lt]": column < at,
            "created[lte]": column <= at,
        }[key]
        query = query.where(comparison)
    if "type" in params:
        query = query.where(SandboxCardBalanceTransaction.type == params["type"])
    if "currency" in params:
        query = query.where(SandboxCardBalanceTransaction.currency == params["currency"].lower())
    return query


def _refunds(session: Session, ids: list[str]) -> dict[str, SandboxCardRefund]:
    if not ids:
        return {}
    return {
        row.id: row for row in session.scalars(select(SandboxCardRefund).where(SandboxCardRefund.id.in_(ids)))
    }


def _json(
    row: SandboxCardBalanceTransaction, refunds: dict[str, SandboxCardRefund], *, expand: bool
) -> dict[str, Any]:
    created = int(row.created_at.timestamp())
    source: str | dict[str, Any] = row.source_id
    if expand and row.type == "charge":
        source = {
            "id": row.source_id,
            "object": "charge",
            "amount": row.amount,
            "currency": row.currency,
            "created": created,
            "paid": True,
            "payment_intent": row.intent_id,
            "status": "succeeded",
        }
    elif expand:
        refund = refunds.get(row.source_id)
        source = {
            "id": row.source_id,
            "object": "refund",
            "amount": -row.amount,
            "currency": row.currency,
            "created": created,
            "payment_intent": row.intent_id,
            "status": refund.status if refund is not None else "succeeded",
        }
    return {
        "id": row.id,
        "object": "balance_transaction",
        "amount": row.amount,
        "available_on": created + 2 * 86400,
        "created": created,
        "currency": row.currency,
        "description": None,
        "exchange_rate": None,
        "fee": row.fee,
        "fee_details": [{"amount": row.fee, "currency": row.currency, "type": "stripe_fee"}]
        if row.fee
        else [],
        "net": row.amount - row.fee,
        "reporting_category": row.type,
        "source": source,
        "status": "pending",
        "type": row.type,
    }

"""Staff actions on real orders: refund from the order page (audited), reports that equal the ledger, CSV."""

from __future__ import annotations

import csv
import io
from datetime import datetime

import sqlalchemy as sa

from crossbay.admin.reports import hk_day_start_of
from crossbay.audit import service as audit_log
from crossbay.clock import hk_date
from crossbay.db import transaction
from crossbay.ledger.models import LedgerAccount, LedgerEntry, LedgerTransaction
from tests.conftest import LiveServer
from tests.support.journey import Customer, buy, first_package, poll, wait_fulfilled
from tests.support.staff import make_staff, sign_in_staff


def _ledger_sum(
    server: LiveServer, *, kind: str, account: str, since: datetime, until: datetime
) -> dict[str, int]:
    """What the ledger holds for a day, per currency: the entries on one account from one kind of posting."""
    query = (
        sa.select(LedgerEntry.currency, sa.func.sum(LedgerEntry.amount))
        .join(LedgerTransaction, LedgerEntry.transaction_id == LedgerTransaction.id)
        .join(LedgerAccount, LedgerEntry.account_id == LedgerAccount.id)
        .where(
            LedgerTransaction.kind == kind,
            LedgerAccount.code == account,
            LedgerTransaction.created_at >= since,
            LedgerTransaction.created_at < until,
        )
        .group_by(LedgerEntry.currency)
    )
    with server.runtime.sessions() as session, transaction(session):
        return {currency: int(total) for currency, total in session.execute(query)}


def _csv_rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_refund_from_the_order_page_and_reports_equal_the_ledger(
    customer: Customer, server: LiveServer
) -> None:
    package = first_package(customer, "new_esim")
    kept = wait_fulfilled(customer, buy(customer, package["id"])["id"])
    refunded = wait_fulfilled(customer, buy(customer, package["id"])["id"])

    # Support may look at the order but not give money back; finance may.
    support = sign_in_staff(server.url, server.runtime, make_staff(server.runtime, "support"))
    with support:
        page = support.get(f"/admin/orders/{refunded['id']}")
        assert page.status_code == 200 and refunded["id"] in page.text
        assert f"/admin/orders/{refunded['id']}/refund" not in page.text
        assert support.post(f"/admin/orders/{refunded['id']}/refund", {"reason": "asked"}).status_code == 403

    finance = sign_in_staff(server.url, server.runtime, make_staff(server.runtime, "finance"))
    with finance:
        page = finance.get(f"/admin/orders/{refunded['id']}")
        assert f"/admin/orders/{refunded['id']}/refund" in page.text
        done = finance.post(f"/admin/orders/{refunded['id']}/refund", {"reason": "customer changed plans"})
        assert done.status_code == 303 and done.headers["location"].endswith("?done=refund")
        poll(
            lambda: customer.get(f"/api/v1/orders/{refunded['id']}").json(),
            lambda o: o["status"] == "refunded",
        )
        again = finance.post(f"/admin/orders/{refunded['id']}/refund", {"reason": "twice"})
        assert again.status_code == 409

        with server.runtime.sessions() as session, transaction(session):
            [event] = audit_log.list_events(session, limit=10, action="order.refund_requested")
            assert event.actor_kind == "staff" and event.target_id == refunded["id"]
            assert event.ip == "127.0.0.1" and event.details["reason"] == "customer changed plans"
            assert event.customer_id is not None

        day = hk_date(server.runtime.clock.now())
        report = finance.get("/admin/reports.csv", params={"from": day.isoformat(), "to": day.isoformat()})
        assert report.status_code == 200 and report.headers["content-type"].startswith("text/csv")
        html = finance.get("/admin/reports", params={"from": day.isoformat(), "to": day.isoformat()})
        assert html.status_code == 200 and "<svg" in html.text

    rows = _csv_rows(report.text)
    assert rows and set(rows[0]) == {"day", "currency", "row", "key", "amount_minor", "orders"}
    figures = {(r["currency"], r["row"], r["key"]): r for r in rows if r["day"] == day.isoformat()}
    expected_sales = kept["total"]["amount"] + refunded["total"]["amount"]
    currency = kept["total"]["currency"]
    assert int(figures[(currency, "sales", "")]["amount_minor"]) == expected_sales
    assert int(figures[(currency, "sales", "")]["orders"]) == 2
    assert int(figures[(currency, "refunds", "")]["amount_minor"]) == refunded["total"]["amount"]
    assert int(figures[(currency, "sales_by_method", "card")]["amount_minor"]) == expected_sales
    assert int(figures[(currency, "sales_by_package", package["id"])]["amount_minor"]) == expected_sales

    since, until = hk_day_start_of(day), hk_day_start_of(day.fromordinal(day.toordinal() + 1))
    captured = _ledger_sum(
        server, kind="payment.captured", account="unearned:orders", since=since, until=until
    )
    given_back = _ledger_sum(
        server, kind="payment.refunded", account="unearned:orders", since=since, until=until
    )
    # Captures credit what we owe for orders (negative); refunds debit it back.
    assert -captured[currency] == int(figures[(currency, "sales", "")]["amount_minor"])
    assert given_back[currency] == int(figures[(currency, "refunds", "")]["amount_minor"])


def test_retry_fulfilment_is_refused_for_a_delivered_order(customer: Customer, server: LiveServer) -> None:
    order = wait_fulfilled(customer, buy(customer, first_package(customer, "new_esim")["id"])["id"])
    support = sign_in_staff(server.url, server.runtime, make_staff(server.runtime, "support"))
    with support:
        refused = support.post(f"/admin/orders/{order['id']}/retry-fulfilment")
        assert refused.status_code == 409 and "fulfilment_retry_not_possible" in refused.text
        listed = support.get("/admin/orders", params={"q": order["id"]})
        assert order["id"] in listed.text

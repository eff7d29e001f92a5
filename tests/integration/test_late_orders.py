"""The late-order watch: a paid order whose fulfilment hangs gets exactly one ticket and a staff alert, and
the customer sees support is on it (API and page) before asking; fulfilment later resolves the ticket."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest

from crossbay.db import transaction
from crossbay.jobs.kinds import JOB_KINDS
from crossbay.support import service as support
from crossbay.support.watch import SWEEP_EVERY, WATCH_JOB
from tests.conftest import LiveServer
from tests.support.journey import Customer, buy, first_package, poll, wait_fulfilled

# Each SM-DP+ call of the new eSIM hangs this long (below the client's timeout): fulfilment takes twice it.
SMDP_DELAY_SECONDS = 5


@pytest.fixture
def late_after_one_second(server: LiveServer) -> Iterator[None]:
    """Five minutes is the default; the setting is what the watch reads, so the test need not wait."""
    original = server.runtime.settings
    server.runtime.settings = original.model_copy(update={"late_order_after_seconds": 1})
    yield
    server.runtime.settings = original


class Sweeper:
    """The watch's sweep run here, as the background worker is busy with the hung call.

    It calls the sweep's own handler rather than running a second worker: a worker claims any due
    job, and one that took the hung fulfilment would block until the order was no longer late.
    """

    def __init__(self, server: LiveServer) -> None:
        self.server = server

    def run_once(self) -> None:
        JOB_KINDS[WATCH_JOB].handle(
            self.server.runtime, {"period": self.server.runtime.clock.now().isoformat()}
        )


def sweeper(server: LiveServer) -> Sweeper:
    return Sweeper(server)


def tickets_of(server: LiveServer, order_id: str) -> list[Any]:
    with server.runtime.sessions() as session, transaction(session):
        return support.list_tickets(session, limit=10, order_id=order_id)


def test_the_watch_is_a_registered_sweep() -> None:
    assert JOB_KINDS[WATCH_JOB].every == SWEEP_EVERY <= timedelta(minutes=1)


def test_a_hung_fulfilment_opens_one_ticket_alerts_staff_and_tells_the_customer(
    customer: Customer, server: LiveServer, late_after_one_second: None, caplog: pytest.LogCaptureFixture
) -> None:
    http = customer.client()
    assert http.put("/sandbox/smdp/faults", json={"delay_seconds": SMDP_DELAY_SECONDS}).status_code == 200
    try:
        order = buy(customer, first_package(customer, "new_esim")["id"])
        assert customer.get("/api/v1/tickets").json()["items"] == []  # the customer asks nothing
        watch = sweeper(server)
        with caplog.at_level(logging.WARNING, logger="crossbay.support.watch"):
            seen: dict[str, Any] = poll(
                lambda: (watch.run_once(), customer.get(f"/api/v1/orders/{order['id']}").json())[1],
                lambda o: o["support"] is not None,
                timeout=2 * SMDP_DELAY_SECONDS,
                interval=0.2,
            )
        # Support knew while the order was still waiting for the SM-DP+.
        assert seen["status"] in ("paid", "fulfilling")
        assert seen["support"]["status"] == "open" and seen["support"]["origin"] == "late_order"
        ticket_id = seen["support"]["ticket_id"]
        alerts = [
            r for r in caplog.records if r.name == "crossbay.support.watch" and r.levelno == logging.WARNING
        ]
        assert [(getattr(r, "order_id", None), getattr(r, "ticket_id", None)) for r in alerts] == [
            (order["id"], ticket_id)
        ]
        assert "crossbay_late_orders_total 1.0" in http.get("/metrics").text
        assert "crossbay_late_orders_unresolved 1.0" in http.get("/metrics").text

        ticket = customer.get(f"/api/v1/tickets/{ticket_id}", params={"lang": "en"}).json()
        assert ticket["origin"] == "late_order" and ticket["order_id"] == order["id"]
        assert ticket["subject"] == "Your order is taking longer than usual"
        assert [m["author"] for m in ticket["messages"]] == ["system"]
        with httpx.Client(base_url=server.url, cookies={"cb_session": customer.token}) as browser:
            page = browser.get(f"/orders/{order['id']}")
            assert "客服團隊已經知道並正在跟進" in page.text and f"/support/{ticket_id}" in page.text

        for _ in range(3):  # more sweeps, still one ticket
            watch.run_once()
            server.run_jobs()
        assert [t.id for t in tickets_of(server, order["id"])] == [ticket_id]

        wait_fulfilled(customer, order["id"], timeout=4 * SMDP_DELAY_SECONDS + 30)
        resolved = poll(
            lambda: (
                watch.run_once(),
                customer.get(f"/api/v1/tickets/{ticket_id}", params={"lang": "en"}).json(),
            )[1],
            lambda t: t["status"] == "resolved",
            timeout=10,
            interval=0.2,
        )
        assert resolved["messages"][-1]["body"].startswith("Your order is complete")
        assert customer.get(f"/api/v1/orders/{order['id']}").json()["support"]["status"] == "resolved"
        assert "crossbay_late_orders_unresolved 0.0" in http.get("/metrics").text
        with httpx.Client(base_url=server.url, cookies={"cb_session": customer.token}) as browser:
            assert "客服團隊已經知道" not in browser.get(f"/orders/{order['id']}").text
        assert [t.id for t in tickets_of(server, order["id"])] == [ticket_id]
    finally:
        http.put("/sandbox/smdp/faults", json={})


def test_an_order_fulfilled_in_time_gets_no_ticket(customer: Customer, server: LiveServer) -> None:
    order = wait_fulfilled(customer, buy(customer, first_package(customer, "new_esim")["id"])["id"])
    sweeper(server).run_once()
    assert order["support"] is None and tickets_of(server, order["id"]) == []

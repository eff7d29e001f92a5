"""Reminders and auto-renew over real HTTP: the sandbox network reports usage, the worker's sweep
(moved along by the test's clock) sends SMS, email and in-app notifications and renews packs."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from crossbay.clock import HONG_KONG, ShiftedClock
from tests.conftest import LiveServer, problem
from tests.support import sensitive
from tests.support.journey import Customer, buy, poll, wait_fulfilled

MB = 1024 * 1024
PASSWORD = "harbour-lantern-92"
PIN = "482915"


@pytest.fixture
def daytime(server: LiveServer) -> None:
    """Noon in Hong Kong tomorrow, so no SMS waits for quiet hours to end (the server resets the clock)."""
    clock = server.runtime.clock
    assert isinstance(clock, ShiftedClock)
    now = clock.now().astimezone(HONG_KONG)
    noon = datetime.combine(now.date() + timedelta(days=1), datetime.min.time(), tzinfo=HONG_KONG)
    clock.advance(noon.replace(hour=12) - now)


def next_sweep(server: LiveServer) -> None:
    """Sweeps run once a minute: a minute later the background worker runs the next one."""
    clock = server.runtime.clock
    assert isinstance(clock, ShiftedClock)
    clock.advance(timedelta(minutes=1))


def package_by_code(customer: Customer, code: str, purpose: str) -> dict[str, Any]:
    items = customer.get("/api/v1/packages", params={"for": purpose}).json()["items"]
    found: dict[str, Any] = next(p for p in items if p["code"] == code)
    return found


def new_esim(customer: Customer) -> dict[str, Any]:
    starter = package_by_code(customer, "ESIM-HKCN-STARTER", "new_esim")  # 1 GB, HK and mainland
    order = wait_fulfilled(customer, buy(customer, starter["id"])["id"])
    esim: dict[str, Any] = customer.get(f"/api/v1/esims/{order['esim_id']}").json()
    return esim


def report(http: httpx.Client, iccid: str, mb: int) -> dict[str, Any]:
    answer = http.post("/sandbox/network/usage", json={"iccid": iccid, "data_bytes": mb * MB})
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def notifications(customer: Customer, **params: Any) -> dict[str, Any]:
    answer = customer.get("/api/v1/me/notifications", params=params)
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def wait_notification(customer: Customer, kind: str, count: int = 1) -> list[dict[str, Any]]:
    def of_kind(body: dict[str, Any]) -> list[dict[str, Any]]:
        return [n for n in body["items"] if n["kind"] == kind]

    body = poll(lambda: notifications(customer), lambda b: len(of_kind(b)) >= count, timeout=30)
    return of_kind(body)


def test_network_usage_moves_the_gauge_and_reminders_arrive_on_every_channel(
    daytime: None, server: LiveServer, http: httpx.Client, customer: Customer
) -> None:
    address = f"t-{uuid.uuid4().hex[:10]}@example.com"
    sensitive.register(address)
    set_email = customer.client().put("/api/v1/me/email", json={"email": address}, headers=customer.auth())
    assert set_email.status_code == 200 and set_email.json() == {"email": address}
    assert customer.get("/api/v1/me").json()["email"] == address
    esim = new_esim(customer)

    answer = report(http, esim["iccid"], 820)  # of 1024 MB: 80% used
    assert answer["results"][0]["result"] == "rated"
    [bundle] = customer.get(f"/api/v1/esims/{esim['id']}").json()["bundles"]
    assert bundle["remaining_mb"] == 204  # the gauge moved
    next_sweep(server)
    [note] = wait_notification(customer, "low_data")
    assert note["read"] is False and "20%" in note["body"]  # 820 of 1024 MB: 80% used, 20% left
    english = customer.get("/api/v1/me/notifications", params={"lang": "en"}).json()
    assert english["items"][0]["title"] == "Your pack is running low"

    sms = poll(
        lambda: http.get("/sandbox/sms/messages", params={"phone": customer.phone}).json()["items"],
        lambda items: any("20%" in m["body"] for m in items),
    )
    assert "剩餘" in next(m["body"] for m in sms if "20%" in m["body"])  # the customer's language: zh-Hant
    mail = poll(
        lambda: http.get("/sandbox/email/messages", params={"to": address}).json()["items"],
        lambda items: len(items) == 1,
    )
    assert mail[0]["subject"] == "您的套餐即將用完" and "20%" in mail[0]["body"]

    page = notifications(customer)
    assert page["unread_count"] == 1 and page["next_cursor"] is None
    read = customer.post(f"/api/v1/me/notifications/{note['id']}/read")
    assert read.status_code == 200 and read.json()["read"] is True
    assert notifications(customer)["unread_count"] == 0

    next_sweep(server)  # another sweep, no new usage: nothing more
    report(http, esim["iccid"], 204)  # used up
    next_sweep(server)
    wait_notification(customer, "data_exhausted")
    assert [n["kind"] for n in notifications(customer)["items"]] == ["data_exhausted", "low_data"]
    assert len(notifications(customer, limit=1)["items"]) == 1
    assert notifications(customer, limit=1)["next_cursor"] is not None


def test_notifications_belong_to_their_customer(
    server: LiveServer, http: httpx.Client, customer: Customer
) -> None:
    assert problem(customer.post("/api/v1/me/notifications/ntf_nope/read"))["code"] == "not_found"
    assert customer.post("/api/v1/me/notifications/read-all").status_code == 204
    assert http.get("/api/v1/me/notifications").status_code == 401


def test_reminder_settings_are_validated(server: LiveServer, customer: Customer) -> None:
    assert customer.get("/api/v1/me/reminders").json() == {
        "low_data_percent": 20,
        "expiry_days_before": 1,
        "low_balance": {"amount": 5000, "currency": "HKD", "formatted": "HK$50.00"},
        "channels": ["sms", "email", "in_app"],
    }
    put = customer.client().put
    good = {
        "low_data_percent": 30,
        "expiry_days_before": 3,
        "low_balance": {"amount": 10000, "currency": "HKD"},
        "channels": ["in_app", "sms"],
    }
    saved = put("/api/v1/me/reminders", json=good, headers=customer.auth())
    assert saved.status_code == 200, saved.text
    assert saved.json()["channels"] == ["sms", "in_app"] and saved.json()["low_data_percent"] == 30
    bad = {**good, "low_data_percent": 60, "expiry_days_before": 8, "channels": ["fax"]}
    refused = problem(put("/api/v1/me/reminders", json=bad, headers=customer.auth()))
    assert refused["code"] == "validation_failed"
    errors = refused["errors"]
    assert isinstance(errors, list)
    assert {e["field"] for e in errors} == {"low_data_percent", "expiry_days_before", "channels"}
    wrong_type = problem(
        put("/api/v1/me/reminders", json={**good, "low_data_percent": "lots"}, headers=customer.auth())
    )
    assert wrong_type["status"] == 422
    assert customer.get("/api/v1/me/reminders").json()["low_data_percent"] == 30
    email = problem(put("/api/v1/me/email", json={"email": "not an address"}, headers=customer.auth()))
    assert email["code"] == "invalid_email"
    assert put("/api/v1/me/email", json={"email": None}, headers=customer.auth()).json() == {"email": None}


# --- auto-renew -------------------------------------------------------------------------------------


def with_pin(customer: Customer) -> None:
    sensitive.register(PIN, PASSWORD)
    put = customer.client().put
    assert (
        put("/api/v1/me/password", json={"new_password": PASSWORD}, headers=customer.auth()).status_code
        == 204
    )
    pin = put("/api/v1/me/payment-pin", json={"pin": PIN, "password": PASSWORD}, headers=customer.auth())
    assert pin.status_code == 204, pin.text


def top_up(customer: Customer, amount: int) -> None:
    created = customer.post(
        "/api/v1/wallet/topups",
        json={"amount": {"amount": amount, "currency": "HKD"}, "payment_method": "card"},
    )
    assert created.status_code == 201, created.text
    topup = created.json()
    customer.client().post(f"/sandbox/pay/card/{topup['payment']['reference']}/approve")
    poll(
        lambda: customer.get(f"/api/v1/wallet/topups/{topup['id']}").json(),
        lambda t: t["status"] == "completed",
    )


def auto_renew(customer: Customer, esim_id: str, body: dict[str, Any]) -> httpx.Response:
    return customer.client().put(f"/api/v1/esims/{esim_id}/auto-renew", json=body, headers=customer.auth())


def renewal_orders(customer: Customer, esim_id: str, package_id: str) -> list[dict[str, Any]]:
    items = customer.get("/api/v1/orders", params={"limit": 100}).json()["items"]
    return [o for o in items if o["esim_id"] == esim_id and o["package_id"] == package_id]


def test_exhaustion_buys_the_auto_renew_pack_once_from_the_wallet(
    daytime: None, server: LiveServer, http: httpx.Client, customer: Customer
) -> None:
    with_pin(customer)
    esim = new_esim(customer)
    top_up(customer, 10_000)
    pack = package_by_code(customer, "DATA-HK-1G-1D", "topup")  # HK$18, Hong Kong, a day

    assert (
        problem(auto_renew(customer, esim["id"], {"package_id": pack["id"]}))["code"] == "validation_failed"
    )
    assert problem(auto_renew(customer, esim["id"], {"package_id": pack["id"], "pin": "000001"}))["code"] == (
        "invalid_pin"
    )
    starter = package_by_code(customer, "ESIM-HKCN-STARTER", "new_esim")
    refused = auto_renew(customer, esim["id"], {"package_id": starter["id"], "pin": PIN})
    assert problem(refused)["code"] == "package_not_available"  # not sold as a top-up
    assert (
        problem(auto_renew(customer, "esim_nope", {"package_id": pack["id"], "pin": PIN}))["code"]
        == "not_found"
    )
    turned_on = auto_renew(customer, esim["id"], {"package_id": pack["id"], "pin": PIN})
    assert turned_on.status_code == 200, turned_on.text
    assert turned_on.json()["auto_renew_package_id"] == pack["id"]
    activity = customer.get("/api/v1/me/activity").json()["items"]
    assert activity[0]["action"] == "auto_renew.changed"

    report(http, esim["iccid"], 1024)  # the starter's whole gigabyte
    next_sweep(server)
    [renewal] = poll(
        lambda: renewal_orders(customer, esim["id"], pack["id"]), lambda found: len(found) == 1, timeout=30
    )
    done = wait_fulfilled(customer, renewal["id"])
    assert done["payment_method"] == "wallet" and done["total"]["amount"] == pack["price"]["amount"]
    assert customer.get("/api/v1/wallet").json()["balance"]["amount"] == 10_000 - pack["price"]["amount"]
    [note] = wait_notification(customer, "auto_renew_succeeded")
    assert "HK$18.00" in note["body"]
    bundles = customer.get(f"/api/v1/esims/{esim['id']}").json()["bundles"]
    assert sorted(b["status"] for b in bundles) == ["exhausted", "queued"]

    for _ in range(3):  # later sweeps renew nothing more
        next_sweep(server)
        server.run_jobs()
    assert len(renewal_orders(customer, esim["id"], pack["id"])) == 1
    assert len(wait_notification(customer, "auto_renew_succeeded")) == 1


def test_a_short_wallet_is_told_clearly_and_no_order_is_made(
    daytime: None, server: LiveServer, http: httpx.Client, customer: Customer
) -> None:
    with_pin(customer)
    esim = new_esim(customer)
    pack = package_by_code(customer, "DATA-HK-1G-1D", "topup")
    assert (
        auto_renew(customer, esim["id"], {"package_id": pack["id"], "password": PASSWORD}).status_code == 200
    )
    report(http, esim["iccid"], 1024)
    next_sweep(server)
    [note] = wait_notification(customer, "auto_renew_failed")
    assert "HK$0.00" in note["body"] and "HK$18.00" in note["body"], note["body"]
    poll(  # urgent (the line is dark): an SMS at once, even at night
        lambda: http.get("/sandbox/sms/messages", params={"phone": customer.phone}).json()["items"],
        lambda items: any("HK$18.00" in m["body"] for m in items),
    )
    next_sweep(server)
    assert renewal_orders(customer, esim["id"], pack["id"]) == []
    assert len(wait_notification(customer, "auto_renew_failed")) == 1
    off = auto_renew(customer, esim["id"], {"package_id": None})
    assert off.status_code == 200 and off.json()["auto_renew_package_id"] is None

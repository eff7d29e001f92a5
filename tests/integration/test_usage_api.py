"""Usage over real HTTP: the network posts records and asks for credit; the customer sees the balance."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from tests.conftest import LiveServer, problem
from tests.support.journey import Customer, buy, wait_fulfilled

MB = 1024 * 1024


def network(server: LiveServer, http: httpx.Client) -> dict[str, str]:
    return {"Authorization": f"Bearer {server.runtime.settings.network_api_key}"}


def new_esim(customer: Customer) -> dict[str, Any]:
    items = customer.get("/api/v1/packages", params={"for": "new_esim"}).json()["items"]
    # The 10 GB pack starts at purchase and covers Hong Kong, Macau and the mainland.
    package = next(p for p in items if p["data_mb"] == 10240)
    order = wait_fulfilled(customer, buy(customer, package["id"])["id"])
    esim: dict[str, Any] = customer.get(f"/api/v1/esims/{order['esim_id']}").json()
    return esim


def record(iccid: str, rid: str, data: int, region: str = "hk", at: datetime | None = None) -> dict[str, Any]:
    start = at or datetime.now(UTC)  # after the purchase: usage before it is no bundle's
    return {
        "record_id": rid,
        "iccid": iccid,
        "started_at": start.isoformat(),
        "ended_at": (start + timedelta(minutes=1)).isoformat(),
        "region": region,
        "network": "CMHK",
        "data_bytes": data,
        "voice_seconds": 0,
    }


def test_records_are_rated_once_and_shown_to_the_customer(
    server: LiveServer, http: httpx.Client, customer: Customer
) -> None:
    esim = new_esim(customer)
    iccid = esim["iccid"]
    batch = [
        record(iccid, "cdr-1", 100 * MB),
        record(iccid, "cdr-2", 50 * MB, region="cn-gd"),
        record("8985200000000000000", "cdr-3", MB),
        record(iccid, "cdr-4", MB, region="jp"),
    ]
    answer = http.post("/network/usage-records", json={"records": batch}, headers=network(server, http))
    assert answer.status_code == 200, answer.text
    assert [r["result"] for r in answer.json()["results"]] == ["rated", "rated", "unknown_iccid", "no_bundle"]
    again = http.post("/network/usage-records", json={"records": batch[:2]}, headers=network(server, http))
    assert [r["result"] for r in again.json()["results"]] == ["duplicate", "duplicate"]

    [bundle] = customer.get(f"/api/v1/esims/{esim['id']}").json()["bundles"]
    assert (bundle["total_mb"], bundle["remaining_mb"]) == (10240, 10240 - 150)
    quota = customer.get("/api/v1/me").json()["quota"]
    assert (quota["total_mb"], quota["remaining_mb"]) == (10240, 10240 - 150)
    days = customer.get(f"/api/v1/esims/{esim['id']}/usage", params={"days": 7}).json()["days"]
    assert len(days) == 7 and days[-1]["data_bytes"] == 151 * MB  # all usage of the day, rated or not
    assert esim["status"] in ("ready", "installed")
    assert customer.get(f"/api/v1/esims/{esim['id']}").json()["status"] == "active"


def test_usage_view_checks_days_and_ownership(
    server: LiveServer, http: httpx.Client, customer: Customer
) -> None:
    esim = new_esim(customer)
    assert problem(customer.get(f"/api/v1/esims/{esim['id']}/usage", params={"days": 91}))["code"] == (
        "validation_failed"
    )
    assert problem(customer.get("/api/v1/esims/esim_nope/usage"))["code"] == "not_found"


def test_a_record_from_outside_any_plausible_time_is_refused(
    server: LiveServer, http: httpx.Client, customer: Customer
) -> None:
    esim = new_esim(customer)
    for at in (
        datetime(9999, 12, 31, 23, tzinfo=UTC),
        datetime(1, 1, 2, tzinfo=UTC),
        datetime(1999, 12, 31, tzinfo=UTC),
    ):
        body = {"records": [record(esim["iccid"], f"far-{at.year}", MB, at=at)]}
        refused = http.post("/network/usage-records", json=body, headers=network(server, http))
        assert refused.status_code == 422, refused.text
        errors = problem(refused)["errors"]
        assert {(e["field"], e["code"]) for e in errors} >= {("records.0.started_at", "out_of_range")}
    fine = record(esim["iccid"], "near", MB)
    answered = http.post("/network/usage-records", json={"records": [fine]}, headers=network(server, http))
    assert answered.status_code == 200 and answered.json()["results"][0]["result"] == "rated"


def test_network_endpoints_need_the_key(server: LiveServer, http: httpx.Client) -> None:
    for path, body in (
        ("/network/usage-records", {"records": []}),
        ("/network/credit-sessions", {"session_id": "x", "iccid": "1", "region": "hk"}),
    ):
        refused = http.post(path, json=body, headers={"Authorization": "Bearer wrong"})
        assert refused.status_code == 401 and problem(refused)["code"] == "invalid_api_key"
        assert http.post(path, json=body).status_code == 401


def test_credit_session_over_http(server: LiveServer, http: httpx.Client, customer: Customer) -> None:
    esim = new_esim(customer)
    key = network(server, http)
    opened = http.post(
        "/network/credit-sessions",
        json={"session_id": "pgw.example;1;42", "iccid": esim["iccid"], "service": "data", "region": "mo"},
        headers=key,
    )
    assert opened.status_code == 201, opened.text
    assert (opened.json()["result_code"], opened.json()["granted_units"]) == (2001, 15 * MB)
    sid = "pgw.example%3B1%3B42"
    updated = http.post(
        f"/network/credit-sessions/{sid}/update",
        json={"request_number": 1, "used_units": 10 * MB},
        headers=key,
    )
    assert updated.status_code == 200 and updated.json()["granted_units"] == 15 * MB
    replay = http.post(
        f"/network/credit-sessions/{sid}/update",
        json={"request_number": 1, "used_units": 10 * MB},
        headers=key,
    )
    assert replay.json() == updated.json()
    ended = http.post(
        f"/network/credit-sessions/{sid}/terminate", json={"request_number": 2, "used_units": MB}, headers=key
    )
    assert ended.json()["status"] == "closed" and ended.json()["charged_units_total"] == 11 * MB
    late = http.post(
        f"/network/credit-sessions/{sid}/update", json={"request_number": 3, "used_units": 0}, headers=key
    )
    assert late.status_code == 409 and problem(late)["code"] == "credit_session_closed"
    missing = http.post(
        "/network/credit-sessions/nope/update", json={"request_number": 1, "used_units": 0}, headers=key
    )
    assert missing.status_code == 404 and problem(missing)["code"] == "credit_session_not_found"
    unknown = http.post(
        "/network/credit-sessions",
        json={"session_id": "s2", "iccid": "8985200000000000000", "region": "hk"},
        headers=key,
    )
    assert unknown.status_code == 404 and problem(unknown)["code"] == "unknown_iccid"
    [bundle] = customer.get(f"/api/v1/esims/{esim['id']}").json()["bundles"]
    assert bundle["remaining_mb"] == 10240 - 11

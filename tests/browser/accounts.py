"""Customers made through the public API, handed to a browser already signed in, and usage sent as the
network sends it: for tests about what a page shows rather than how one gets there."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from playwright.sync_api import Browser, BrowserContext

from tests.browser.browsing import new_context
from tests.browser.conftest import NETWORK_API_KEY
from tests.support.journey import Customer, buy, register_identity, sign_in, wait_fulfilled

SESSION_COOKIE = "cb_session"  # the web pages take the API's access token as their session
MB = 1024 * 1024


def api_customer(base_url: str, *, identity: bool = True) -> Customer:
    customer = sign_in([httpx.Client(base_url=base_url, timeout=30)])
    if identity:
        register_identity(customer)
    return customer


def package_id(customer: Customer, purpose: str, data_mb: int) -> str:
    items = customer.get("/api/v1/packages", params={"for": purpose}).json()["items"]
    return str(next(p["id"] for p in items if p["data_mb"] == data_mb))


def customer_with_esim(base_url: str, *, data_mb: int = 10240) -> tuple[Customer, dict[str, Any]]:
    """A customer holding one fulfilled eSIM; the 10 GB starter counts its days from purchase."""
    customer = api_customer(base_url)
    order = wait_fulfilled(customer, buy(customer, package_id(customer, "new_esim", data_mb))["id"])
    esim: dict[str, Any] = customer.get(f"/api/v1/esims/{order['esim_id']}").json()
    return customer, esim


def signed_in(
    browser: Browser,
    base_url: str,
    customer: Customer,
    viewport: dict[str, int],
    *,
    locale: str,
    javascript: bool = True,
) -> BrowserContext:
    context = new_context(browser, base_url, viewport, locale=locale, javascript=javascript)
    context.add_cookies([{"name": SESSION_COOKIE, "value": customer.token, "url": base_url}])
    return context


def send_usage(base_url: str, iccid: str, by_day: dict[int, int]) -> list[str]:
    """Usage records as the carrier network posts them: ``{days ago: bytes}``; returns each record's result.

    Today's record starts now (after the purchase), older ones that many days before now (so on that Hong Kong
    day); records from before the purchase are no bundle's, but the daily totals count them.
    """
    now = datetime.now(UTC)
    records = []
    for days_ago, data_bytes in sorted(by_day.items()):
        start = now - timedelta(days=days_ago)
        records.append(
            {
                "record_id": f"browser-{uuid.uuid4().hex}",
                "iccid": iccid,
                "started_at": start.isoformat(),
                "ended_at": (start + timedelta(seconds=30)).isoformat(),
                "region": "hk",
                "network": "CMHK",
                "data_bytes": data_bytes,
                "voice_seconds": 0,
            }
        )
    answer = httpx.post(
        f"{base_url}/network/usage-records",
        json={"records": records},
        headers={"Authorization": f"Bearer {NETWORK_API_KEY}"},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    return [r["result"] for r in answer.json()["results"]]

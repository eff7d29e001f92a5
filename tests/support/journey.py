"""A customer's journey over HTTP, as a native app would drive it. Used by e2e tests and benchmarks."""

from __future__ import annotations

import itertools
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from crossbay.identity.errors import InvalidPhoneNumber
from crossbay.identity.phones import normalize_phone
from tests.support import sensitive

_phones = itertools.count(int(time.time() * 1000) % 10_000_000)


def new_phone() -> str:
    """A fresh Hong Kong mobile number (6xxxxxxx) for each customer, one the service accepts."""
    while True:
        phone = f"+8526{next(_phones) % 10_000_000:07d}"
        try:
            normalize_phone(phone)
        except InvalidPhoneNumber:
            continue  # a range not allocated to mobiles
        return phone


def hkid_with_check(prefix: str, digits: str) -> str:
    """A valid HKID built from the public check-digit rule."""
    values = [36 if len(prefix) == 1 else ord(prefix[0]) - 55] + [ord(c) - 55 for c in prefix[-1]]
    values += [int(d) for d in digits]
    total = sum(v * w for v, w in zip(values, range(9, 1, -1), strict=True))
    remainder = total % 11
    check = "0" if remainder == 0 else "A" if remainder == 1 else str(11 - remainder)
    return f"{prefix}{digits}({check})"


def poll(
    fetch: Callable[[], Any], until: Callable[[Any], bool], *, timeout: float = 30.0, interval: float = 0.1
) -> Any:
    """Ask again until the answer satisfies ``until`` or the deadline passes (never a blind sleep)."""
    deadline = time.monotonic() + timeout
    while True:
        value = fetch()
        if until(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s; last value: {value!r}"[:2000])
        time.sleep(interval)


@dataclass
class Customer:
    """One signed-in customer; requests rotate over the given servers (any server can answer any request)."""

    clients: list[httpx.Client]
    phone: str
    token: str = ""
    refresh_token: str = ""
    _turn: int = 0

    def client(self) -> httpx.Client:
        self._turn += 1
        return self.clients[self._turn % len(self.clients)]

    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.client().get(path, headers=self.auth(), **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        headers = {**self.auth(), **kwargs.pop("headers", {})}
        return self.client().post(path, headers=headers, **kwargs)


def sign_in(clients: list[httpx.Client], phone: str | None = None) -> Customer:
    customer = Customer(clients, phone or new_phone())
    challenge = customer.client().post("/api/v1/auth/otp", json={"phone": customer.phone})
    assert challenge.status_code == 202, challenge.text
    messages = poll(
        lambda: customer.client().get("/sandbox/sms/messages", params={"phone": customer.phone}).json(),
        lambda body: len(body["items"]) > 0,
    )
    code = re.search(r"\b(\d{6})\b", messages["items"][0]["body"])
    assert code is not None
    token = customer.client().post(
        "/api/v1/auth/token",
        json={
            "phone": customer.phone,
            "challenge_id": challenge.json()["challenge_id"],
            "code": code.group(1),
        },
    )
    assert token.status_code == 200, token.text
    customer.token, customer.refresh_token = token.json()["access_token"], token.json()["refresh_token"]
    sensitive.register(
        code.group(1), customer.token, token.json()["refresh_token"], customer.phone, customer.phone[1:]
    )
    return customer


def register_identity(customer: Customer, digits: str | None = None) -> dict[str, Any]:
    number = hkid_with_check("A", digits or f"{uuid.uuid4().int % 1_000_000:06d}")
    sensitive.register(number, number.replace("(", "").replace(")", ""), "陳大文")
    response = customer.client().put(
        "/api/v1/me/identity",
        headers=customer.auth(),
        json={
            "full_name": "陳大文",
            "document_type": "hkid",
            "document_number": number,
            "date_of_birth": "1990-05-17",
        },
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def first_package(customer: Customer, purpose: str, kind: str = "data") -> dict[str, Any]:
    items = customer.get("/api/v1/packages", params={"for": purpose}).json()["items"]
    chosen: dict[str, Any] = next(p for p in items if p["kind"] == kind or purpose == "new_esim")
    return chosen


def buy(customer: Customer, package_id: str, esim_id: str | None = None) -> dict[str, Any]:
    """Create an order by card, approve it at the sandbox cashier, return the order as created."""
    body: dict[str, Any] = {"package_id": package_id, "payment_method": "card"}
    if esim_id:
        body["esim_id"] = esim_id
    created = customer.post("/api/v1/orders", json=body, headers={"Idempotency-Key": str(uuid.uuid4())})
    assert created.status_code == 201, created.text
    order: dict[str, Any] = created.json()
    assert order["next_action"]["type"] == "redirect"
    approved = customer.client().post(f"/sandbox/pay/card/{order['payment']['reference']}/approve")
    assert approved.status_code in (200, 303), approved.text
    return order


def wait_fulfilled(customer: Customer, order_id: str, timeout: float = 60.0) -> dict[str, Any]:
    order: dict[str, Any] = poll(
        lambda: customer.get(f"/api/v1/orders/{order_id}").json(),
        lambda o: o["status"] in ("fulfilled", "failed", "refunded"),
        timeout=timeout,
    )
    assert order["status"] == "fulfilled", order
    return order

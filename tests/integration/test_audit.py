"""The audit record over HTTP: each sensitive action is recorded with who, when, where and what changed,
never with a secret; customers read theirs at /api/v1/me/activity and on /account/activity."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
from sqlalchemy import select

from crossbay.audit.models import AuditEvent
from crossbay.db import transaction
from tests.conftest import LiveServer, problem
from tests.support import sensitive
from tests.support.journey import Customer, hkid_with_check

PASSWORD, NEW_PASSWORD = "harbour-lantern-92", "kowloon-ferry-pier-57"
NEW_NAME = "李小龍"
ACTIVITY_KEYS = {"id", "at", "action", "actor", "ip", "device", "detail", "details"}


def pins_for(phone: str) -> tuple[str, str]:
    """Two PINs that pass the weak-PIN rules for this phone (never a slice of it)."""
    candidates = [p for p in ("739164", "582046", "618203", "904731") if p not in phone]
    return candidates[0], candidates[1]


def my_id(customer: Customer) -> str:
    body: dict[str, Any] = customer.get("/api/v1/me").json()
    return str(body["id"])


def rows(server: LiveServer, customer_id: str) -> list[AuditEvent]:
    with server.runtime.sessions() as session, transaction(session):
        return list(
            session.scalars(
                select(AuditEvent).where(AuditEvent.customer_id == customer_id).order_by(AuditEvent.at)
            )
        )


def as_text(event: AuditEvent) -> str:
    return json.dumps(
        {c.name: getattr(event, c.name) for c in AuditEvent.__table__.columns},
        default=str,
        ensure_ascii=False,
    )


def password_sign_in(server: LiveServer, phone: str, **headers: str) -> httpx.Response:
    with httpx.Client(base_url=server.url, headers=headers, timeout=30) as client:
        return client.post("/api/v1/auth/token", json={"phone": phone, "password": NEW_PASSWORD})


def set_password(customer: Customer) -> None:
    sensitive.register(PASSWORD, NEW_PASSWORD)
    first = customer.client().put(
        "/api/v1/me/password", json={"new_password": PASSWORD}, headers=customer.auth()
    )
    assert first.status_code == 204, first.text
    second = customer.client().put(
        "/api/v1/me/password",
        json={"new_password": NEW_PASSWORD, "current_password": PASSWORD},
        headers=customer.auth(),
    )
    assert second.status_code == 204, second.text


class TestSignInFromANewDevice:
    def test_only_a_device_never_seen_before_is_recorded(
        self, customer: Customer, server: LiveServer
    ) -> None:
        customer_id = my_id(customer)
        [first] = [e for e in rows(server, customer_id) if e.action == "signin.new_device"]
        assert first.actor_kind == "customer" and first.actor_id == customer_id
        assert first.ip == "127.0.0.1" and first.device == "python-httpx"
        assert first.details["method"] == "code" and first.details["new_customer"] is True

        set_password(customer)
        # The same client again (same User-Agent, no device id): a known device.
        assert password_sign_in(server, customer.phone).status_code == 200
        assert [e.action for e in rows(server, customer_id)].count("signin.new_device") == 1

        # An app installation with its own device id is a new device, once.
        device = {
            "X-Device-Id": uuid.uuid4().hex,
            "User-Agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0) Safari/604.1",
        }
        assert password_sign_in(server, customer.phone, **device).status_code == 200
        assert password_sign_in(server, customer.phone, **device).status_code == 200
        new_devices = [e for e in rows(server, customer_id) if e.action == "signin.new_device"]
        assert len(new_devices) == 2
        assert new_devices[1].device == "Safari · iOS"
        assert new_devices[1].details == {"method": "password", "new_customer": False, "changes": []}

    def test_a_wrong_password_records_nothing(self, customer: Customer, server: LiveServer) -> None:
        customer_id = my_id(customer)
        set_password(customer)
        before = len(rows(server, customer_id))
        with httpx.Client(base_url=server.url, headers={"X-Device-Id": uuid.uuid4().hex}) as client:
            refused = client.post(
                "/api/v1/auth/token", json={"phone": customer.phone, "password": "wrong-one-123"}
            )
        assert refused.status_code == 401
        assert len(rows(server, customer_id)) == before


class TestChangesAreRecordedWithoutSecrets:
    def test_password_pin_identity_and_payment_method(self, customer: Customer, server: LiveServer) -> None:
        customer_id = my_id(customer)
        http = customer.client()
        pin, new_pin = pins_for(customer.phone)
        sensitive.register(pin, new_pin)
        set_password(customer)
        for body in ({"pin": pin, "password": NEW_PASSWORD}, {"pin": new_pin, "password": NEW_PASSWORD}):
            answer = http.put("/api/v1/me/payment-pin", json=body, headers=customer.auth())
            assert answer.status_code == 204, answer.text
        for method in ("card", "wallet", "wallet"):  # the repeat changes nothing and is not recorded
            answer = http.put(
                "/api/v1/me/preferred-payment", json={"payment_method": method}, headers=customer.auth()
            )
            assert answer.status_code == 204, answer.text
        number = hkid_with_check("B", f"{uuid.uuid4().int % 1_000_000:06d}")
        sensitive.register(number, NEW_NAME)
        changed = http.put(
            "/api/v1/me/identity",
            headers=customer.auth(),
            json={
                "full_name": NEW_NAME,
                "document_type": "hkid",
                "document_number": number,
                "date_of_birth": "1990-05-17",
            },
        )
        assert changed.status_code == 200, changed.text

        events = rows(server, customer_id)
        assert [e.action for e in events] == [
            "signin.new_device",
            "identity.registered",
            "password.set",
            "password.changed",
            "payment_pin.set",
            "payment_pin.changed",
            "preferred_payment.changed",
            "preferred_payment.changed",
            "identity.changed",
        ]
        for event in events:
            assert event.actor_kind == "customer" and event.actor_id == customer_id
            assert event.ip == "127.0.0.1" and event.device == "python-httpx"
            stored = as_text(event)
            for secret in (
                PASSWORD,
                NEW_PASSWORD,
                pin,
                new_pin,
                number,
                number.replace("(", "").replace(")", ""),
            ):
                assert secret not in stored, (event.action, secret)
            for personal in (NEW_NAME, "陳大文", customer.phone, customer.phone[1:]):
                assert personal not in stored, (event.action, personal)
        by_action = {e.action: e for e in events}
        assert by_action["payment_pin.changed"].details == {
            "proof": "password",
            "changes": [{"field": "payment_pin"}],
        }
        assert by_action["password.changed"].details == {"changes": [{"field": "password"}]}
        payment_changes = [e.details["changes"][0] for e in events if e.action == "preferred_payment.changed"]
        assert payment_changes == [
            {"field": "payment_method", "before": None, "after": "card"},
            {"field": "payment_method", "before": "card", "after": "wallet"},
        ]
        assert by_action["identity.changed"].details["changes"] == [
            {"field": "full_name"},
            {"field": "document_number"},
        ]
        assert by_action["identity.registered"].details["changes"][0] == {
            "field": "document_type",
            "before": None,
            "after": "hkid",
        }

    def test_a_refused_change_records_nothing(self, customer: Customer, server: LiveServer) -> None:
        customer_id = my_id(customer)
        set_password(customer)
        before = len(rows(server, customer_id))
        weak = customer.client().put(
            "/api/v1/me/payment-pin",
            json={"pin": "111111", "password": NEW_PASSWORD},
            headers=customer.auth(),
        )
        assert problem(weak)["code"] == "weak_pin"
        wrong = customer.client().put(
            "/api/v1/me/password",
            json={"new_password": "another-long-phrase-1", "current_password": "not-it-at-all"},
            headers=customer.auth(),
        )
        assert problem(wrong)["code"] == "invalid_credentials"
        assert len(rows(server, customer_id)) == before


class TestActivity:
    def test_the_api_pages_newest_first_in_the_customers_language(self, customer: Customer) -> None:
        set_password(customer)
        first = customer.get("/api/v1/me/activity", params={"limit": 2, "lang": "zh-Hant"})
        assert first.status_code == 200, first.text
        page = first.json()
        assert [item["action"] for item in page["items"]] == ["password.changed", "password.set"]
        assert all(set(item) == ACTIVITY_KEYS for item in page["items"])
        assert page["items"][0]["detail"] == "已更改登入密碼"
        assert page["items"][0]["actor"] == "customer" and page["items"][0]["ip"] == "127.0.0.1"
        rest = customer.get("/api/v1/me/activity", params={"limit": 2, "cursor": page["next_cursor"]}).json()
        assert [item["action"] for item in rest["items"]] == ["identity.registered", "signin.new_device"]
        assert rest["items"][1]["detail"] == "在新裝置上登入：使用驗證碼"  # zh-Hant is the default
        assert rest["next_cursor"] is None

    def test_refusals(self, customer: Customer, http: httpx.Client) -> None:
        assert (
            problem(customer.get("/api/v1/me/activity", params={"cursor": "bm9wZQ"}))["code"]
            == "validation_failed"
        )
        assert (
            problem(customer.get("/api/v1/me/activity", params={"limit": 0}))["code"] == "validation_failed"
        )
        assert problem(http.get("/api/v1/me/activity"))["status"] == 401

    def test_only_the_customers_own_records(self, customer: Customer, server: LiveServer) -> None:
        from tests.support.journey import sign_in

        other = sign_in([customer.client()])
        items = other.get("/api/v1/me/activity").json()["items"]
        assert [item["action"] for item in items] == ["signin.new_device"]

    def test_the_page_lists_them_in_three_languages(self, customer: Customer, server: LiveServer) -> None:
        set_password(customer)
        with httpx.Client(base_url=server.url, cookies={"cb_session": customer.token}) as browser:
            zh = browser.get("/account/activity")
            assert zh.status_code == 200
            assert "帳戶活動" in zh.text and "已更改登入密碼" in zh.text and "在新裝置上登入" in zh.text
            assert "127.0.0.1" in zh.text and "python-httpx" in zh.text
            assert "账户活动" in browser.get("/account/activity?lang=zh-Hans").text
            en = browser.get("/account/activity?lang=en").text
            assert "Login password changed" in en and "Real-name identity registered" in en
            assert 'href="/account/activity"' in browser.get("/home").text

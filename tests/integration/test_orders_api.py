"""Orders over HTTP: quotes, idempotent creation, cancellation, ownership (API.md "Orders")."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from sqlalchemy import func, select

from crossbay.orders.models import Order
from tests.conftest import LiveServer, problem
from tests.support.journey import Customer, buy, first_package, sign_in, wait_fulfilled


def order_count(server: LiveServer) -> int:
    with server.runtime.engine.connect() as connection:
        return int(connection.scalar(select(func.count()).select_from(Order)) or 0)


class TestPackages:
    def test_filters_and_language(self, http: httpx.Client, server: LiveServer) -> None:
        from crossbay.cli import seed_catalog

        seed_catalog(server.runtime.settings, only_if_empty=True)
        everything = http.get("/api/v1/packages").json()["items"]
        assert len(everything) >= 12
        assert {"id", "code", "kind", "name", "price", "for", "regions", "networks", "validity_days"} <= set(
            everything[0]
        )
        voice = http.get("/api/v1/packages", params={"kind": "voice"}).json()["items"]
        assert voice and all(p["kind"] == "voice" for p in voice)
        new = http.get("/api/v1/packages", params={"for": "new_esim"}).json()["items"]
        assert new and all("new_esim" in p["for"] for p in new)
        macau = http.get("/api/v1/packages", params={"region": "mo"}).json()["items"]
        assert macau and all({"mo", "gba"} & set(p["regions"]) for p in macau)
        english = http.get("/api/v1/packages", headers={"Accept-Language": "en"}).json()["items"]
        simplified = http.get("/api/v1/packages", params={"lang": "zh-Hans"}).json()["items"]
        assert english[0]["name"] != simplified[0]["name"]
        assert english[0]["price"]["formatted"].startswith("HK$")
        one = http.get(f"/api/v1/packages/{everything[0]['id']}")
        assert one.status_code == 200 and one.json()["id"] == everything[0]["id"]
        missing = http.get("/api/v1/packages/pkg_nope")
        assert missing.status_code == 404 and problem(missing)["code"] == "not_found"
        bad = http.get("/api/v1/packages", params={"region": "tokyo"})
        assert bad.status_code == 422 and problem(bad)["code"] == "validation_failed"


@pytest.mark.usefixtures("seeded")
class TestCreateOrder:
    def test_needs_idempotency_key(self, customer: Customer) -> None:
        package = first_package(customer, "new_esim")
        response = customer.post(
            "/api/v1/orders", json={"package_id": package["id"], "payment_method": "card"}
        )
        assert response.status_code == 400 and problem(response)["code"] == "idempotency_key_required"

    def test_replay_returns_the_first_response_and_a_changed_body_is_refused(
        self, customer: Customer, server: LiveServer
    ) -> None:
        package = first_package(customer, "new_esim")
        key = {"Idempotency-Key": str(uuid.uuid4())}
        body = {"package_id": package["id"], "payment_method": "card"}
        first = customer.post("/api/v1/orders", json=body, headers=key)
        assert first.status_code == 201
        again = customer.post("/api/v1/orders", json=body, headers=key)
        assert again.status_code == 201 and again.json() == first.json()
        assert again.headers["Idempotency-Replayed"] == "true"
        other = customer.post("/api/v1/orders", json={**body, "payment_method": "alipay"}, headers=key)
        assert other.status_code == 409 and problem(other)["code"] == "idempotency_key_reused"
        assert order_count(server) == 1

    def test_ten_concurrent_creates_with_one_key_make_one_order(
        self, customer: Customer, server: LiveServer
    ) -> None:
        package = first_package(customer, "new_esim")
        key = {"Idempotency-Key": str(uuid.uuid4())}
        body = {"package_id": package["id"], "payment_method": "card"}

        def create(_: int) -> httpx.Response:
            with httpx.Client(base_url=server.url, timeout=60) as client:
                return client.post("/api/v1/orders", json=body, headers={**customer.auth(), **key})

        with ThreadPoolExecutor(10) as pool:
            responses = list(pool.map(create, range(10)))
        assert [r.status_code for r in responses] == [201] * 10
        assert len({r.json()["id"] for r in responses}) == 1
        assert order_count(server) == 1

    def test_new_esim_needs_identity(self, http: httpx.Client) -> None:
        customer = sign_in([http])
        package = first_package(customer, "new_esim")
        response = customer.post(
            "/api/v1/orders",
            json={"package_id": package["id"], "payment_method": "card"},
            headers={"Idempotency-Key": "k1"},
        )
        assert response.status_code == 403 and problem(response)["code"] == "identity_required"

    def test_topup_package_cannot_buy_a_new_esim(self, customer: Customer) -> None:
        topup_only = next(
            p for p in customer.get("/api/v1/packages").json()["items"] if p["for"] == ["topup"]
        )
        response = customer.post("/api/v1/orders/quote", json={"package_id": topup_only["id"]})
        assert response.status_code == 422 and problem(response)["code"] == "package_not_available"

    def test_quote_lines_sum_to_total(self, customer: Customer) -> None:
        package = first_package(customer, "new_esim")
        quote = customer.post("/api/v1/orders/quote", json={"package_id": package["id"]}).json()
        assert sum(line["amount"]["amount"] for line in quote["lines"]) == quote["total"]["amount"]
        assert quote["total"] == package["price"]

    def test_pay_without_a_body_reopens_the_cashier(self, customer: Customer) -> None:
        package = first_package(customer, "new_esim")
        created = customer.post(
            "/api/v1/orders",
            json={"package_id": package["id"], "payment_method": "card"},
            headers={"Idempotency-Key": str(uuid.uuid4())},
        ).json()
        again = customer.post(f"/api/v1/orders/{created['id']}/pay")
        assert again.status_code == 200, again.text
        assert again.json()["next_action"] == created["next_action"]

    def test_cancel_only_while_unpaid(self, customer: Customer) -> None:
        package = first_package(customer, "new_esim")
        created = customer.post(
            "/api/v1/orders",
            json={"package_id": package["id"], "payment_method": "card"},
            headers={"Idempotency-Key": str(uuid.uuid4())},
        ).json()
        cancelled = customer.post(f"/api/v1/orders/{created['id']}/cancel")
        assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
        assert cancelled.json()["next_action"] is None
        again = customer.post(f"/api/v1/orders/{created['id']}/cancel")
        assert again.status_code == 409 and problem(again)["code"] == "order_not_cancellable"

    def test_another_customers_order_and_esim_are_404(self, customer: Customer, http: httpx.Client) -> None:
        order = buy(customer, first_package(customer, "new_esim")["id"])
        fulfilled = wait_fulfilled(customer, order["id"])
        stranger = sign_in([http])
        for path in (
            f"/api/v1/orders/{order['id']}",
            f"/api/v1/esims/{fulfilled['esim_id']}",
            f"/api/v1/esims/{fulfilled['esim_id']}/qr.png",
        ):
            response = stranger.get(path)
            assert response.status_code == 404 and problem(response)["code"] == "not_found"
            assert order["id"] not in response.text

    def test_identity_cannot_be_swapped_while_a_new_esim_is_on_its_way(self, customer: Customer) -> None:
        package = first_package(customer, "new_esim")
        created = customer.post(
            "/api/v1/orders",
            json={"package_id": package["id"], "payment_method": "card"},
            headers={"Idempotency-Key": str(uuid.uuid4())},
        )
        assert created.status_code == 201
        swap = customer.client().put(
            "/api/v1/me/identity",
            headers=customer.auth(),
            json={
                "full_name": "李小龍",
                "document_type": "hkid",
                "document_number": "A123456(3)",
                "date_of_birth": "1980-01-01",
            },
        )
        assert swap.status_code == 409 and problem(swap)["code"] == "identity_locked"

    def test_list_is_paginated_newest_first(self, customer: Customer) -> None:
        package = first_package(customer, "new_esim")
        ids = [
            customer.post(
                "/api/v1/orders",
                json={"package_id": package["id"], "payment_method": "card"},
                headers={"Idempotency-Key": str(uuid.uuid4())},
            ).json()["id"]
            for _ in range(3)
        ]
        page = customer.get("/api/v1/orders", params={"limit": 2}).json()
        assert [o["id"] for o in page["items"]] == ids[::-1][:2]
        rest = customer.get("/api/v1/orders", params={"limit": 2, "cursor": page["next_cursor"]}).json()
        assert [o["id"] for o in rest["items"]] == [ids[0]] and rest["next_cursor"] is None

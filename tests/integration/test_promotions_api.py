"""Promotions over HTTP (API.md "Promotions" and "Orders"): offers, my coupons, quotes and orders with
coupons, every coupon error as problem+json, a freed use after a cancel, and the books after delivery."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import httpx
import pytest

from crossbay.db import transaction
from crossbay.ledger import service as ledger
from crossbay.money import Money
from crossbay.promotions import campaigns
from crossbay.promotions.rules import Tier
from tests.conftest import LiveServer, problem
from tests.support.journey import Customer, buy, register_identity, sign_in, wait_fulfilled


def add_promotions(server: LiveServer, **coupon: Any) -> dict[str, str]:
    now = server.runtime.clock.now()
    values: dict[str, Any] = {
        "names": {"zh-Hant": "歡迎優惠", "zh-Hans": "欢迎优惠", "en": "Welcome offer"},
        "descriptions": {"zh-Hant": "首單減十元", "en": "HK$10 off"},
        "discount_type": "fixed",
        "amounts": {"HKD": 1_000, "CNY": 900},
        "starts_at": now - timedelta(minutes=1),
        "ends_at": now + timedelta(days=7),
        "code": "WELCOME10",
        "on_show": True,
    }
    values.update(coupon)
    with server.runtime.sessions() as session, transaction(session):
        tiers = campaigns.create_threshold(
            session,
            names={"zh-Hant": "滿減優惠", "zh-Hans": "满减优惠", "en": "Spend and save"},
            tiers=[
                Tier(Money(10_000, "HKD"), Money(1_000, "HKD")),
                Tier(Money(20_000, "HKD"), Money(2_500, "HKD")),
            ],
            starts_at=now - timedelta(minutes=1),
            ends_at=None,
            now=now,
        )
        welcome = campaigns.create_coupon(session, now=now, **values)
        return {"tiers": tiers.id, "coupon": welcome.id}


def package_priced(customer: Customer, low: int, high: int) -> dict[str, Any]:
    items = customer.get("/api/v1/packages", params={"for": "new_esim"}).json()["items"]
    return next(p for p in items if low <= p["price"]["amount"] < high)


def order_body(package_id: str, code: str | None) -> dict[str, Any]:
    body: dict[str, Any] = {"package_id": package_id, "payment_method": "card"}
    if code is not None:
        body["coupon_code"] = code
    return body


def place(customer: Customer, package_id: str, code: str | None) -> httpx.Response:
    return customer.post(
        "/api/v1/orders", json=order_body(package_id, code), headers={"Idempotency-Key": str(uuid.uuid4())}
    )


class TestOffers:
    def test_lists_offers_on_show_in_the_requests_language_with_the_rule(
        self, http: httpx.Client, server: LiveServer, seeded: None
    ) -> None:
        add_promotions(server)
        add_promotions(server, code="HIDDEN1", on_show=False)
        hant = http.get("/api/v1/promotions").json()
        en = http.get("/api/v1/promotions", headers={"Accept-Language": "en"}).json()
        assert [p["kind"] for p in hant["items"]].count("threshold") == 2
        codes = [p["code"] for p in en["items"] if p["kind"] == "coupon"]
        assert codes == ["WELCOME10"]  # the hidden campaign is reachable by its code only
        coupon = next(p for p in en["items"] if p["kind"] == "coupon")
        assert coupon["title"] == "Welcome offer" and coupon["amounts"][0]["formatted"] == "HK$10.00"
        assert next(p for p in hant["items"] if p["kind"] == "coupon")["title"] == "歡迎優惠"
        tier = next(p for p in en["items"] if p["kind"] == "threshold")["tiers"][0]
        assert (tier["spend"]["amount"], tier["save"]["amount"]) == (10_000, 1_000)
        assert "at most one coupon" in en["stacking_rule"] and "最多一張優惠券" in hant["stacking_rule"]


class TestQuotesAndOrders:
    def test_a_quote_shows_the_threshold_then_the_coupon_as_lines(
        self, customer: Customer, server: LiveServer
    ) -> None:
        add_promotions(server)
        package = package_priced(customer, 10_000, 20_000)
        quote = customer.post(
            "/api/v1/orders/quote",
            json={"package_id": package["id"], "coupon_code": "welcome10"},
            headers={"Accept-Language": "en"},
        ).json()
        price = package["price"]["amount"]
        assert [line["kind"] for line in quote["lines"]] == ["package", "discount", "discount"]
        assert [line["amount"]["amount"] for line in quote["lines"]] == [price, -1_000, -1_000]
        assert quote["lines"][1]["description"] == "Spend HK$100.00, save HK$10.00"
        assert (quote["subtotal"]["amount"], quote["discount"]["amount"], quote["total"]["amount"]) == (
            price,
            2_000,
            price - 2_000,
        )

    @pytest.mark.parametrize(
        ("coupon", "code"),
        [
            ({}, "coupon_invalid"),
            ({"ends_at": None, "starts_at": None}, "coupon_expired"),
            ({"total_limit": 1}, "coupon_used_up"),
            ({"min_spend": {"HKD": 99_900}}, "coupon_not_applicable"),
        ],
    )
    def test_each_coupon_error_is_a_422_problem(
        self, customer: Customer, server: LiveServer, coupon: dict[str, Any], code: str
    ) -> None:
        now = server.runtime.clock.now()
        if code == "coupon_expired":
            coupon = {"starts_at": now - timedelta(days=2), "ends_at": now - timedelta(days=1)}
        add_promotions(server, **coupon)
        package = package_priced(customer, 0, 100_000)
        if code == "coupon_used_up":
            other = sign_in([customer.client()])
            register_identity(other)
            assert place(other, package["id"], "WELCOME10").status_code == 201
        typed = "NOSUCHCODE" if code == "coupon_invalid" else "WELCOME10"
        for response in (
            customer.post("/api/v1/orders/quote", json={"package_id": package["id"], "coupon_code": typed}),
            place(customer, package["id"], typed),
        ):
            assert response.status_code == 422
            body = problem(response)
            assert body["code"] == code and body["title"]
        if code == "coupon_not_applicable":
            assert "HK$999.00" in str(body["detail"])

    def test_a_cancelled_order_frees_its_use_for_someone_else(
        self, customer: Customer, server: LiveServer
    ) -> None:
        ids = add_promotions(server, total_limit=1)
        package = package_priced(customer, 0, 100_000)
        first = place(customer, package["id"], "WELCOME10")
        assert first.status_code == 201 and first.json()["discount"]["amount"] >= 1_000
        other = sign_in([customer.client()])
        register_identity(other)
        assert problem(place(other, package["id"], "WELCOME10"))["code"] == "coupon_used_up"
        assert customer.post(f"/api/v1/orders/{first.json()['id']}/cancel").json()["status"] == "cancelled"
        assert place(other, package["id"], "WELCOME10").status_code == 201
        with server.runtime.sessions() as session, transaction(session):
            assert campaigns.get_promotion(session, ids["coupon"]).redeemed == 1

    def test_concurrent_orders_over_http_take_no_more_uses_than_there_are(
        self, customer: Customer, server: LiveServer
    ) -> None:
        add_promotions(server, total_limit=3, code="THREEONLY")
        package = package_priced(customer, 0, 100_000)
        buyers = [customer]
        for _ in range(7):
            buyer = sign_in([httpx.Client(base_url=server.url, timeout=60)])
            register_identity(buyer)
            buyers.append(buyer)
        with ThreadPoolExecutor(len(buyers)) as pool:
            statuses = sorted(pool.map(lambda b: place(b, package["id"], "THREEONLY").status_code, buyers))
        for buyer in buyers[1:]:
            buyer.clients[0].close()
        assert statuses == [201] * 3 + [422] * 5

    def test_a_discounted_order_paid_and_delivered_keeps_the_books_whole(
        self, customer: Customer, server: LiveServer
    ) -> None:
        add_promotions(server)
        package = package_priced(customer, 10_000, 20_000)
        created = customer.post(
            "/api/v1/orders",
            json=order_body(package["id"], "WELCOME10"),
            headers={"Idempotency-Key": str(uuid.uuid4())},
        )
        order = created.json()
        assert sum(line["amount"]["amount"] for line in order["lines"]) == order["total"]["amount"]
        customer.client().post(f"/sandbox/pay/card/{order['payment']['reference']}/approve")
        wait_fulfilled(customer, order["id"])
        with server.runtime.sessions() as session, transaction(session):
            assert ledger.account_balance(session, "discounts:promotions", "HKD") == Money(2_000, "HKD")
            assert ledger.check_ledger(session).ok


class TestMyCoupons:
    def test_a_claimed_coupon_is_listed_with_status_and_expiry_then_used(
        self, customer: Customer, server: LiveServer
    ) -> None:
        add_promotions(server, per_customer_limit=1)
        claimed = customer.post("/api/v1/me/coupons", json={"code": "welcome 10"})
        assert claimed.status_code == 201 and claimed.json()["status"] == "available"
        assert customer.post("/api/v1/me/coupons", json={"code": "WELCOME10"}).status_code == 200
        listed = customer.get("/api/v1/me/coupons").json()["items"]
        assert [(c["code"], c["status"], c["source"]) for c in listed] == [
            ("WELCOME10", "available", "claimed")
        ]
        assert listed[0]["expires_at"] is not None and listed[0]["uses_left"] == 1
        buy(customer, package_priced(customer, 0, 100_000)["id"])  # no coupon: still available
        assert place(customer, package_priced(customer, 0, 100_000)["id"], "WELCOME10").status_code == 201
        assert customer.get("/api/v1/me/coupons").json()["items"][0]["status"] == "used"

    def test_unknown_codes_are_refused_and_coupons_need_sign_in(
        self, customer: Customer, http: httpx.Client
    ) -> None:
        assert (
            problem(customer.post("/api/v1/me/coupons", json={"code": "NOPE-NOPE"}))["code"]
            == "coupon_invalid"
        )
        assert http.get("/api/v1/me/coupons").status_code == 401

"""Promotions in the back office over HTTP: a coupon and a threshold offer created through the forms
work at checkout, bad forms come back with every problem in the staff member's language, bulk codes
and their CSV, switching off and on, uses counted, who may do what, and every change audited."""

from __future__ import annotations

import csv
import io
import re
import uuid
from pathlib import Path
from typing import Any

import httpx
from babel.messages.pofile import read_po
from sqlalchemy import select

from crossbay.admin.rendering import TRANSLATIONS_DIR
from crossbay.audit import service as audit_log
from crossbay.db import transaction
from crossbay.promotions import campaigns
from crossbay.promotions.models import CouponCode, Promotion
from tests.conftest import LiveServer, problem
from tests.support.journey import Customer, register_identity, sign_in
from tests.support.staff import StaffClient, make_staff, sign_in_staff

PROMOTION_URL = re.compile(r"^/admin/promotions/(promo_[0-9a-f]+)\?done=created$")


def staff(server: LiveServer, role: str) -> StaffClient:
    return sign_in_staff(server.url, server.runtime, make_staff(server.runtime, role))


def coupon_form(**changes: str | list[str]) -> dict[str, Any]:
    form: dict[str, Any] = {
        "name_zh-Hant": "夏日八折",
        "name_en": "Summer 20% off",
        "description_en": "20% off data packs, up to HK$30",
        "discount_type": "percent",
        "percent": "20",
        "amounts_HKD": "30",
        "amounts_CNY": "27.00",
        "min_spend_HKD": "40",
        "starts_at": "",
        "ends_at": "2099-12-31T23:59",
        "package_kinds": ["data"],
        "per_customer_limit": "1",
        "total_limit": "2",
        "code": "summer-20",
        "on_show": "1",
    }
    form.update(changes)
    return form


def post_form(client: StaffClient, path: str, form: dict[str, Any]) -> httpx.Response:
    return client.http.post(path, data={"csrf": client.csrf, **form})


def order(customer: Customer, package_id: str, code: str | None) -> httpx.Response:
    body: dict[str, Any] = {"package_id": package_id, "payment_method": "card"}
    if code:
        body["coupon_code"] = code
    return customer.post("/api/v1/orders", json=body, headers={"Idempotency-Key": str(uuid.uuid4())})


def data_package(customer: Customer) -> dict[str, Any]:
    items = customer.get("/api/v1/packages", params={"for": "new_esim", "kind": "data"}).json()["items"]
    return next(p for p in items if p["price"]["currency"] == "HKD" and p["price"]["amount"] >= 4_000)


def test_a_coupon_made_in_the_back_office_works_at_checkout_and_its_uses_show(
    customer: Customer, server: LiveServer
) -> None:
    with staff(server, "catalog") as catalog:
        form = catalog.get("/admin/promotions/new/coupon")
        assert form.status_code == 200 and "新增優惠券" in form.text
        created = post_form(catalog, "/admin/promotions/new/coupon", coupon_form())
        assert created.status_code == 303, created.text
        found = PROMOTION_URL.match(created.headers["location"])
        assert found is not None
        promotion_id = found.group(1)

        with server.runtime.sessions() as session, transaction(session):
            promotion = campaigns.get_promotion(session, promotion_id)
            assert (promotion.kind, promotion.discount_type, promotion.percent) == ("coupon", "percent", 20)
            assert promotion.amounts == {"HKD": 3_000, "CNY": 2_700}
            assert promotion.min_spend == {"HKD": 4_000}
            assert promotion.package_kinds == ["data"] and promotion.package_ids == []
            assert (promotion.per_customer_limit, promotion.total_limit) == (1, 2)
            assert promotion.names == {"zh-Hant": "夏日八折", "en": "Summer 20% off"}
            assert promotion.ends_at is not None and promotion.ends_at.isoformat().startswith(
                "2099-12-31T15:59"
            )
            assert campaigns.public_codes(session, [promotion_id]) == {promotion_id: "SUMMER20"}
            [event] = audit_log.list_events(session, limit=5, action="promotion.created")
            assert event.actor_kind == "staff" and event.target_id == promotion_id
            assert event.details["has_shared_code"] is True and event.details["total_limit"] == 2
            assert "SUMMER" not in str(event.details).upper()

        detail = catalog.get(created.headers["location"])
        assert "已建立推廣" in detail.text and "20% 折扣，最多減 HK$30.00 / CN¥27.00" in detail.text

        package = data_package(customer)
        used = order(customer, package["id"], "SUMMER20")
        assert used.status_code == 201, used.text
        expected = min(package["price"]["amount"] * 20 // 100, 3_000)
        coupon_lines = [line for line in used.json()["lines"] if line["kind"] != "package"]
        assert any(-line["amount"]["amount"] == expected for line in coupon_lines), used.json()["lines"]
        # One per customer, as the form said.
        assert problem(order(customer, package["id"], "SUMMER20"))["code"] == "coupon_used_up"

        listing = catalog.get("/admin/promotions")
        row = listing.text.split(f'id="{promotion_id}"')[1].split("</tr>")[0]
        assert '<td class="num">1 / 2</td>' in row
        assert "生效中" in row

        cancelled = customer.post(f"/api/v1/orders/{used.json()['id']}/cancel")
        assert cancelled.json()["status"] == "cancelled"
        detail = catalog.get(f"/admin/promotions/{promotion_id}")
        live = re.search(r'class="uses">(\d+)<', detail.text)
        assert live is not None and live.group(1) == "0"
        assert "已退回</dt><dd>1 " in detail.text


def test_a_threshold_offer_from_the_form_discounts_orders_that_reach_a_tier(
    customer: Customer, server: LiveServer
) -> None:
    package = data_package(customer)
    price = package["price"]["amount"]
    with staff(server, "admin") as admin:
        created = post_form(
            admin,
            "/admin/promotions/new/threshold",
            {
                "name_en": "Spend and save",
                "tier_currency_0": "HKD",
                "tier_spend_0": f"{price / 100:.2f}",
                "tier_save_0": "7",
                "tier_currency_1": "HKD",
                "tier_spend_1": f"{price / 100 + 1000:.2f}",
                "tier_save_1": "200",
                "tier_currency_2": "HKD",  # an empty row: ignored
                "on_show": "1",
            },
        )
        assert created.status_code == 303, created.text
        page = admin.get(created.headers["location"])
        assert "滿 HK$" in page.text and "減 HK$7.00" in page.text
    quote = customer.post("/api/v1/orders/quote", json={"package_id": package["id"]})
    assert quote.status_code == 200, quote.text
    assert quote.json()["discount"]["amount"] == 700


def test_a_bad_form_comes_back_with_every_problem_translated_and_nothing_created(
    server: LiveServer, seeded: None
) -> None:
    with staff(server, "catalog") as catalog:
        bad = post_form(
            catalog,
            "/admin/promotions/new/coupon",
            coupon_form(
                **{"name_zh-Hant": "", "name_en": ""},
                amounts_HKD="ten",
                amounts_CNY="",
                total_limit="0",
                ends_at="2001-01-01T00:00",
            ),
        )
        assert bad.status_code == 422
        for message in ("金額請填寫如 10 或 10.50", "請填寫 1 或以上的整數"):
            assert message in bad.text
        assert 'value="summer-20"' in bad.text and 'value="ten"' in bad.text  # what was typed stays
        # The promotions context's own checks come back the same way, in the staff member's language.
        again = post_form(
            catalog,
            "/admin/promotions/new/coupon",
            coupon_form(ends_at="2001-01-01T00:00"),
        )
        assert again.status_code == 422 and "結束時間必須在開始時間之後" in again.text
        nameless = post_form(
            catalog, "/admin/promotions/new/coupon", coupon_form(**{"name_zh-Hant": "", "name_en": ""})
        )
        assert nameless.status_code == 422 and "請最少填寫繁體中文或英文" in nameless.text
        english = catalog.http.post(
            "/admin/promotions/new/threshold?lang=en",
            data={
                "csrf": catalog.csrf,
                "name_en": "Tiers",
                "tier_currency_0": "HKD",
                "tier_spend_0": "100",
                "tier_save_0": "150",
            },
        )
        assert english.status_code == 422
        assert "A tier saves more than nothing and no more than its spend" in english.text
    with server.runtime.sessions() as session, transaction(session):
        assert session.scalars(select(Promotion)).all() == []


def test_bulk_codes_csv_switching_off_and_who_may_do_it(customer: Customer, server: LiveServer) -> None:
    with staff(server, "catalog") as catalog:
        created = post_form(
            catalog,
            "/admin/promotions/new/coupon",
            coupon_form(code="", total_limit="", per_customer_limit="", on_show="", percent="10"),
        )
        promotion_id = created.headers["location"].split("/")[-1].split("?")[0]
        made = post_form(
            catalog,
            f"/admin/promotions/{promotion_id}/codes",
            {"count": "25", "max_uses": "1", "prefix": "vip"},
        )
        assert made.status_code == 303 and made.headers["location"].endswith("?done=codes&made=25")
        assert "已產生 25 個優惠碼" in catalog.get(made.headers["location"]).text
        too_many = post_form(catalog, f"/admin/promotions/{promotion_id}/codes", {"count": "10001"})
        assert too_many.status_code == 422 and "每次可產生 1 至 10000 個優惠碼" in too_many.text

        exported = catalog.get(f"/admin/promotions/{promotion_id}/codes.csv")
        assert exported.status_code == 200
        assert exported.headers["content-type"].startswith("text/csv")
        assert "attachment" in exported.headers["content-disposition"]
        rows = list(csv.DictReader(io.StringIO(exported.text)))
        codes = [row["code"] for row in rows]
        assert len(codes) == len(set(codes)) == 25
        assert all(code.startswith("VIP") and len(code) == 13 for code in codes)
        assert {row["max_uses"] for row in rows} == {"1"}

        package = data_package(customer)
        assert order(customer, package["id"], codes[0]).status_code == 201
        second = sign_in([customer.client()])
        register_identity(second)
        assert problem(order(second, package["id"], codes[0]))["code"] == "coupon_used_up"

        off = post_form(catalog, f"/admin/promotions/{promotion_id}/active", {"active": "off"})
        assert off.status_code == 303
        assert "已停用推廣" in catalog.get(off.headers["location"]).text
        assert problem(order(second, package["id"], codes[1]))["code"] == "coupon_invalid"
        on = post_form(catalog, f"/admin/promotions/{promotion_id}/active", {"active": "on"})
        assert on.status_code == 303
        assert order(second, package["id"], codes[1]).status_code == 201

    with staff(server, "finance") as finance:
        listing = finance.get("/admin/promotions")
        assert listing.status_code == 200 and promotion_id in listing.text
        assert "/admin/promotions/new/coupon" not in listing.text
        detail = finance.get(f"/admin/promotions/{promotion_id}")
        assert detail.status_code == 200 and "codes.csv" not in detail.text
        assert finance.get(f"/admin/promotions/{promotion_id}/codes.csv").status_code == 403
        assert (
            post_form(finance, f"/admin/promotions/{promotion_id}/codes", {"count": "1"}).status_code == 403
        )
    with staff(server, "support") as support:
        assert support.get("/admin/promotions").status_code == 403

    with server.runtime.sessions() as session, transaction(session):
        events = audit_log.list_events(session, limit=20, actor_kind="staff")
        actions = [e.action for e in events if e.target_id == promotion_id]
        assert sorted(actions) == sorted(
            [
                "promotion.created",
                "coupon_codes.generated",
                "coupon_codes.exported",
                "promotion.switched",
                "promotion.switched",
            ]
        )
        generated = next(e for e in events if e.action == "coupon_codes.generated")
        assert generated.details["count"] == 25 and generated.details["prefix"] == "VIP"
        # No code itself goes on the record: the record is read by more people than the codes are.
        for event in events:
            assert not any(code in str(event.details) for code in codes)
        stored = session.scalars(select(CouponCode.code).where(CouponCode.promotion_id == promotion_id))
        assert sorted(stored) == sorted(codes)


def test_every_message_of_the_promotions_checks_has_traditional_chinese() -> None:
    """The form shows the promotions context's own check messages; the catalog must know all of them."""
    source = Path(campaigns.__file__).read_text()
    messages = set(re.findall(r'_problem\(\s*"[^"]+",\s*"([^"]+)"\)', source))
    assert len(messages) >= 10
    with (TRANSLATIONS_DIR / "zh_Hant" / "LC_MESSAGES" / "admin.po").open("rb") as handle:
        catalog = read_po(handle, locale="zh_Hant")
    admin_source = (Path(campaigns.__file__).parents[1] / "admin" / "promotions.py").read_text()
    messages |= set(re.findall(r'FieldProblem\(\s*\w+,\s*"[^"]+",\s*"([^"]+)"\)', admin_source))
    missing = sorted(m for m in messages if not (catalog.get(m) and catalog.get(m).string))  # type: ignore[union-attr]
    assert missing == []

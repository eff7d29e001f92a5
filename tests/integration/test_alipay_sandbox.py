"""The real AlipayProvider against the sandbox Alipay, over HTTP, with notifications delivered for real."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from crossbay.api.problems import install_problem_handlers
from crossbay.db import make_engine, transaction
from crossbay.money import Money
from crossbay.payments.alipay import (
    AlipayClient,
    AlipayProvider,
    AlipayProviderError,
    AlipayProviderUnavailable,
    AlipayResponseUnverified,
)
from crossbay.payments.alipay_wire import verify_signed_params
from crossbay.payments.providers import CheckoutRequest
from crossbay.payments.service import PaymentNotice
from crossbay.runtime import Runtime
from crossbay.sandbox.alipay import router as alipay_router
from crossbay.sandbox.alipay_models import SandboxAlipayRefund, SandboxAlipayTrade
from crossbay.settings import Settings
from tests.support.alipay_harness import (
    ALIPAY_KEY,
    HKD88,
    KEYS,
    MERCHANT_KEY,
    REPEATS,
    RETURN_URL,
    Harness,
    serve_alipay_sandbox,
)
from tests.support.journey import poll
from tests.support.threaded_server import serve_in_thread


@pytest.fixture(scope="module")
def harness(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    with serve_alipay_sandbox(tmp_path_factory.mktemp("alipay") / "sandbox.db") as harness:
        yield harness


def _trade(harness: Harness, out_trade_no: str) -> SandboxAlipayTrade:
    with harness.runtime.sessions() as session, transaction(session):
        trade = session.scalars(
            select(SandboxAlipayTrade).where(SandboxAlipayTrade.out_trade_no == out_trade_no)
        ).one()
        return trade


class TestCheckout:
    def test_the_redirect_is_a_signed_wap_pay_link_that_opens_the_cashier(self, harness: Harness) -> None:
        checkout = harness.checkout()

        assert checkout.redirect_url.startswith(f"{harness.base_url}/sandbox/alipay/gateway.do?")
        cashier = harness.open(checkout)
        page = harness.http.get(cashier)

        assert cashier == f"{harness.base_url}/sandbox/pay/alipay/{checkout.reference}"
        assert page.status_code == 200
        assert '<html lang="zh-Hant">' in page.text
        assert HKD88.format("zh-Hant") in page.text and "5GB 香港數據 7 日" in page.text
        assert f'action="/sandbox/pay/alipay/{checkout.reference}/approve"' in page.text
        assert f'action="/sandbox/pay/alipay/{checkout.reference}/decline"' in page.text
        assert page.headers["content-security-policy"].startswith("default-src 'none'; style-src 'sha256-")
        assert "http" not in page.text.split("<body>")[0]  # no outside assets
        trade = _trade(harness, checkout.reference)
        assert (trade.status, trade.amount, trade.currency) == ("WAIT_BUYER_PAY", 8800, "HKD")
        assert trade.time_expire is not None

    @pytest.mark.parametrize(
        ("query", "accept", "language"),
        [("?lang=en", None, "en"), ("", "zh-CN,zh;q=0.9", "zh-Hans"), ("", "en-GB", "en")],
    )
    def test_language(self, harness: Harness, query: str, accept: str | None, language: str) -> None:
        cashier = harness.open(harness.checkout(Money(12345, "HKD")))
        headers = {"Accept-Language": accept} if accept else {}

        page = harness.http.get(f"{cashier}{query}", headers=headers)

        assert f'<html lang="{language}">' in page.text
        assert Money(12345, "HKD").format(language) in page.text

    def test_checking_out_again_reopens_the_same_trade(self, harness: Harness) -> None:
        first = harness.checkout()
        harness.open(first)

        again = harness.checkout(payment_id=first.reference)

        assert harness.open(again) == harness.open(first)
        assert harness.client.query(first.reference)["trade_status"] == "WAIT_BUYER_PAY"

    def test_the_same_out_trade_no_for_another_amount_is_refused(self, harness: Harness) -> None:
        first = harness.checkout()
        harness.open(first)

        other = harness.http.get(
            harness.checkout(Money(9900, "HKD"), payment_id=first.reference).redirect_url
        )

        assert other.status_code == 400
        assert "ACQ.CONTEXT_INCONSISTENT" in other.text

    def test_a_tampered_link_is_refused(self, harness: Harness) -> None:
        url = harness.checkout().redirect_url
        parts = urlsplit(url)
        params = dict(parse_qsl(parts.query))
        params["biz_content"] = params["biz_content"].replace('"88.00"', '"0.01"')

        answer = harness.http.get(parts._replace(query=urlencode(params)).geturl())

        assert answer.status_code == 400
        assert "isv.invalid-signature" in answer.text

    def test_unknown_trade(self, harness: Harness) -> None:
        assert harness.http.get(f"{harness.base_url}/sandbox/pay/alipay/pay_nope").status_code == 404


class TestPayment:
    def test_approve_notifies_before_answering_then_repeats_with_the_same_notify_id(
        self, harness: Harness
    ) -> None:
        checkout = harness.checkout()
        harness.open(checkout)

        answer = harness.approve(checkout.reference)

        assert answer.status_code == 303
        assert harness.receiver.for_trade(checkout.reference), "the first delivery happens before the answer"
        location = urlsplit(answer.headers["location"])
        back = dict(parse_qsl(location.query))
        assert (location.netloc, location.path, back["from"]) == ("shop.example", "/orders/ord_1", "alipay")
        back.pop("from")
        assert verify_signed_params(back, KEYS["alipay_public_key"])
        assert (back["method"], back["out_trade_no"], back["total_amount"]) == (
            "alipay.trade.wap.pay.return",
            checkout.reference,
            "88.00",
        )
        deliveries = poll(
            lambda: harness.receiver.for_trade(checkout.reference),
            lambda d: len(d) >= 1 + REPEATS,
            timeout=10,
        )
        assert len(deliveries) == 1 + REPEATS
        assert len({d.params["notify_id"] for d in deliveries}) == 1
        assert {d.notice for d in deliveries} == {
            PaymentNotice(
                provider="alipay",
                event_id=deliveries[0].params["notify_id"],
                kind="trade_status_sync.TRADE_SUCCESS",
                reference=checkout.reference,
                amount=HKD88,
                outcome="succeeded",
            )
        }
        assert deliveries[0].params["subject"] == "5GB 香港數據 7 日"
        assert deliveries[0].params["trans_currency"] == "HKD"
        trade = harness.client.query(checkout.reference)
        assert (trade["trade_status"], trade["total_amount"], trade["trans_currency"]) == (
            "TRADE_SUCCESS",
            "88.00",
            "HKD",
        )
        assert trade["buyer_user_id"].startswith("2088") and trade["send_pay_date"]

    def test_approving_a_paid_trade_is_a_conflict(self, harness: Harness) -> None:
        out_trade_no = harness.paid()

        assert harness.approve(out_trade_no).status_code == 409

    def test_decline_keeps_the_trade_payable_and_notifies_nothing(self, harness: Harness) -> None:
        checkout = harness.checkout()
        harness.open(checkout)

        answer = harness.http.post(f"{harness.base_url}/sandbox/pay/alipay/{checkout.reference}/decline")

        assert answer.status_code == 303 and answer.headers["location"] == RETURN_URL
        assert harness.client.query(checkout.reference)["trade_status"] == "WAIT_BUYER_PAY"
        assert harness.receiver.for_trade(checkout.reference) == []
        assert harness.approve(checkout.reference).status_code == 303
        outcomes = {d.notice.outcome for d in harness.receiver.for_trade(checkout.reference) if d.notice}
        assert outcomes == {"succeeded"}

    def test_a_refused_delivery_is_retried(self, harness: Harness) -> None:
        checkout = harness.checkout()
        harness.open(checkout)
        with harness.receiver.lock:
            harness.receiver.fail_next = 1

        assert harness.approve(checkout.reference).status_code == 303

        poll(
            lambda: harness.receiver.for_trade(checkout.reference),
            lambda d: len(d) >= 1 + REPEATS,
            timeout=10,
        )
        assert harness.receiver.fail_next == 0, "the first delivery was answered 503"

    def test_precreate_answers_a_qr_code_that_opens_the_cashier(self, harness: Harness) -> None:
        out_trade_no = "pay_" + uuid.uuid4().hex[:20]
        notify_url = f"{harness.base_url}/webhooks/alipay"

        qr_code = harness.client.precreate(out_trade_no, HKD88, "5GB", notify_url)

        assert harness.client.precreate(out_trade_no, HKD88, "5GB", notify_url) == qr_code
        assert harness.http.get(qr_code).status_code == 200
        assert harness.approve(out_trade_no).status_code == 200  # no return_url: JSON
        assert harness.receiver.for_trade(out_trade_no)[0].notice is not None
        with pytest.raises(AlipayProviderError) as caught:
            harness.client.precreate(out_trade_no, HKD88, "5GB", notify_url)
        assert caught.value.provider_code == "ACQ.TRADE_HAS_SUCCESS"

    def test_an_expired_trade_closes_and_says_so(self, harness: Harness) -> None:
        late = AlipayProvider(
            harness.client, seller_id=harness.provider.seller_id, checkout_ttl=timedelta(minutes=-1)
        )
        checkout = late.open_checkout(
            CheckoutRequest(
                "pay_" + uuid.uuid4().hex[:20],
                HKD88,
                "5GB",
                RETURN_URL,
                f"{harness.base_url}/webhooks/alipay",
            )
        )

        page = harness.http.get(harness.open(checkout))

        assert "這筆交易已關閉" in page.text
        assert harness.approve(checkout.reference).status_code == 409
        closed = poll(lambda: harness.receiver.for_trade(checkout.reference), bool, timeout=10)
        assert closed[0].notice is not None and closed[0].notice.outcome == "canceled"


class TestQueryRefundClose:
    def test_query_of_an_unknown_trade(self, harness: Harness) -> None:
        with pytest.raises(AlipayProviderError) as caught:
            harness.client.query("pay_unknown")

        assert caught.value.provider_code == "ACQ.TRADE_NOT_EXIST" and not caught.value.retryable

    def test_refund_query_reports_a_refund_it_took_and_nothing_for_one_it_did_not(
        self, harness: Harness
    ) -> None:
        out_trade_no = harness.paid()
        assert (
            harness.provider.query_refund(reference=out_trade_no, refund_id="refund-never", amount=HKD88)
            is None
        )

        harness.provider.refund(reference=out_trade_no, refund_id=f"refund-{out_trade_no}", amount=HKD88)
        notice = harness.provider.query_refund(
            reference=out_trade_no, refund_id=f"refund-{out_trade_no}", amount=HKD88
        )

        assert notice is not None
        assert (notice.kind, notice.outcome, notice.amount, notice.reference) == (
            "refund",
            "refunded",
            HKD88,
            out_trade_no,
        )

    def test_refund_twice_with_one_out_request_no_refunds_once(self, harness: Harness) -> None:
        out_trade_no = harness.paid()
        delivered = len(harness.receiver.for_trade(out_trade_no))

        harness.provider.refund(reference=out_trade_no, refund_id=f"refund-{out_trade_no}", amount=HKD88)
        harness.provider.refund(reference=out_trade_no, refund_id=f"refund-{out_trade_no}", amount=HKD88)
        again = harness.client.refund(out_trade_no, HKD88, f"refund-{out_trade_no}")

        assert (again["fund_change"], again["refund_fee"], again["send_back_fee"]) == ("N", "88.00", "88.00")
        assert harness.client.query(out_trade_no)["trade_status"] == "TRADE_CLOSED"
        with harness.runtime.sessions() as session, transaction(session):
            refunds = session.scalars(select(SandboxAlipayRefund.amount)).all()
            trade = session.scalars(
                select(SandboxAlipayTrade).where(SandboxAlipayTrade.out_trade_no == out_trade_no)
            ).one()
            mine = session.scalar(
                select(func.count())
                .select_from(SandboxAlipayRefund)
                .where(SandboxAlipayRefund.trade_no == trade.trade_no)
            )
        assert mine == 1 and trade.refunded == 8800 and 8800 in refunds
        with pytest.raises(AlipayProviderError) as caught:
            harness.client.refund(out_trade_no, Money(1, "HKD"), "another")
        assert caught.value.provider_code == "ACQ.TRADE_HAS_CLOSE"
        assert len(harness.receiver.for_trade(out_trade_no)) == delivered, "a refund notifies nothing"

    def test_partial_refunds_are_bounded_and_keyed(self, harness: Harness) -> None:
        out_trade_no = harness.paid()

        first = harness.client.refund(out_trade_no, Money(3000, "HKD"), "r1")

        assert (first["fund_change"], first["refund_fee"]) == ("Y", "30.00")
        assert harness.client.query(out_trade_no)["trade_status"] == "TRADE_SUCCESS"
        for amount, key, code in [
            (Money(4000, "HKD"), "r1", "ACQ.DISCORDANT_REPEAT_REQUEST"),
            (Money(5801, "HKD"), "r2", "ACQ.REFUND_AMT_NOT_EQUAL_TOTAL"),
        ]:
            with pytest.raises(AlipayProviderError) as caught:
                harness.client.refund(out_trade_no, amount, key)
            assert caught.value.provider_code == code
        with pytest.raises(AlipayProviderError):  # the provider refunds in full only
            harness.provider.refund(reference=out_trade_no, refund_id=f"refund-{out_trade_no}", amount=HKD88)

    def test_refund_of_an_unpaid_trade_is_refused(self, harness: Harness) -> None:
        checkout = harness.checkout()
        harness.open(checkout)

        with pytest.raises(AlipayProviderError) as caught:
            harness.provider.refund(
                reference=checkout.reference, refund_id=f"refund-{checkout.reference}", amount=HKD88
            )

        assert caught.value.provider_code == "ACQ.TRADE_STATUS_ERROR"

    def test_close(self, harness: Harness) -> None:
        checkout = harness.checkout()
        harness.open(checkout)

        harness.provider.close(reference=checkout.reference, payment_id=checkout.reference)
        harness.provider.close(reference=checkout.reference, payment_id=checkout.reference)

        assert harness.client.query(checkout.reference)["trade_status"] == "TRADE_CLOSED"
        assert harness.approve(checkout.reference).status_code == 409
        paid = harness.paid()
        with pytest.raises(AlipayProviderError) as caught:
            harness.provider.close(reference=paid, payment_id=paid)
        assert caught.value.provider_code == "ACQ.TRADE_STATUS_ERROR"

    def test_closing_before_the_payer_opened_the_cashier_is_done(self, harness: Harness) -> None:
        checkout = harness.checkout()

        harness.provider.close(reference=checkout.reference, payment_id=checkout.reference)

        with pytest.raises(AlipayProviderError) as caught:
            harness.client.close(checkout.reference)
        assert caught.value.provider_code == "ACQ.TRADE_NOT_EXIST"


class TestGatewayRefusals:
    def _client(self, harness: Harness, **overrides: Any) -> AlipayClient:
        values = {
            "gateway_url": harness.client.gateway_url,
            "app_id": harness.client.app_id,
            "private_key_pem": MERCHANT_KEY,
            "alipay_public_key_pem": KEYS["alipay_public_key"],
            **overrides,
        }
        return AlipayClient(**values, http=harness.http, timeout=2)

    @pytest.mark.parametrize(
        ("overrides", "code"),
        [
            ({"private_key_pem": ALIPAY_KEY}, "isv.invalid-signature"),
            ({"app_id": "2021000000009999"}, "isv.invalid-app-id"),
        ],
    )
    def test_refused_requests(self, harness: Harness, overrides: dict[str, str], code: str) -> None:
        with pytest.raises(AlipayProviderError) as caught:
            self._client(harness, **overrides).query("pay_1")

        assert caught.value.provider_code == code

    def test_an_answer_not_signed_by_alipay_is_not_believed(self, harness: Harness) -> None:
        out_trade_no = harness.paid()
        client = self._client(harness, alipay_public_key_pem=KEYS["wechatpay_platform_public_key"])

        with pytest.raises(AlipayResponseUnverified):
            client.query(out_trade_no)

    def test_unreachable_alipay_is_retryable(self, harness: Harness) -> None:
        client = self._client(harness, gateway_url="http://127.0.0.1:9/gateway.do")

        with pytest.raises(AlipayProviderUnavailable) as caught:
            client.query("pay_1")

        assert caught.value.retryable and caught.value.status == 503


class TestPythonAlipaySdk:
    """python-alipay-sdk, unchanged, talks to the sandbox; the sandbox's notifications satisfy it."""

    @pytest.fixture
    def sdk(self, harness: Harness) -> Any:
        alipay = pytest.importorskip("alipay")
        sdk = alipay.AliPay(
            appid=harness.client.app_id,
            app_notify_url=f"{harness.base_url}/webhooks/alipay",
            app_private_key_string=MERCHANT_KEY,
            alipay_public_key_string=KEYS["alipay_public_key"],
            sign_type="RSA2",
        )
        sdk._gateway = harness.client.gateway_url
        return sdk

    def test_its_server_calls_are_answered_and_verified(self, harness: Harness, sdk: Any) -> None:
        out_trade_no = harness.paid()

        trade = sdk.api_alipay_trade_query(out_trade_no=out_trade_no)
        refund = sdk.api_alipay_trade_refund("88.00", out_trade_no=out_trade_no, out_request_no="sdk-1")

        assert (trade["code"], trade["trade_status"], trade["total_amount"]) == (
            "10000",
            "TRADE_SUCCESS",
            "88.00",
        )
        assert (refund["code"], refund["fund_change"], refund["refund_fee"]) == ("10000", "Y", "88.00")

    def test_its_wap_link_opens_the_cashier_and_its_verify_accepts_the_notification(
        self, harness: Harness, sdk: Any
    ) -> None:
        out_trade_no = "pay_" + uuid.uuid4().hex[:20]
        query = sdk.api_alipay_trade_wap_pay(
            subject="5GB", out_trade_no=out_trade_no, total_amount=12.5, return_url=RETURN_URL
        )

        opened = harness.http.get(f"{harness.client.gateway_url}?{query}")
        assert opened.status_code == 303
        assert harness.approve(out_trade_no).status_code == 303

        delivery = harness.receiver.for_trade(out_trade_no)[0]
        data = dict(delivery.params)
        signature = data.pop("sign")
        assert sdk.verify(data, signature)
        # No trans_currency in its request: Alipay's default currency, said in the notification.
        assert delivery.notice is not None and delivery.notice.amount == Money(1250, "CNY")


def test_every_sandbox_delivery_passed_our_verifier(harness: Harness) -> None:
    assert harness.receiver.refused == []


def test_sandbox_paths_are_not_found_when_sandbox_mode_is_off(tmp_path: Path) -> None:
    app = FastAPI()
    install_problem_handlers(app)
    app.include_router(alipay_router)
    app.state.runtime = Runtime(
        settings=Settings(sandbox=False), engine=make_engine(f"sqlite:///{tmp_path}/x.db")
    )

    with serve_in_thread(app) as base_url, httpx.Client(base_url=base_url) as client:
        assert client.get("/sandbox/pay/alipay/pay_1").status_code == 404
        assert (
            client.get("/sandbox/alipay/gateway.do", params={"method": "alipay.trade.query"}).status_code
            == 404
        )
        assert client.post("/sandbox/pay/alipay/pay_1/approve").status_code == 404
    app.state.runtime.close()


def test_money_moves_only_as_json_strings_with_two_decimals(harness: Harness) -> None:
    out_trade_no = harness.paid(Money(5, "HKD"))

    raw = harness.http.get(
        harness.client.gateway_url,
        params=harness.client.signed_params("alipay.trade.query", {"out_trade_no": out_trade_no}),
    )

    inner = json.loads(raw.text)["alipay_trade_query_response"]
    assert (inner["total_amount"], inner["receipt_amount"], inner["point_amount"]) == ("0.05", "0.05", "0.00")

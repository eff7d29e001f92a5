"""The real WechatPayProvider against the sandbox WeChat Pay over HTTP, notifications delivered for real."""

from __future__ import annotations

import html
import json
import re
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from fastapi import FastAPI, Request, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from crossbay.api.problems import install_problem_handlers
from crossbay.clock import FrozenClock
from crossbay.db import Base, make_engine
from crossbay.errors import CrossbayError
from crossbay.money import Money
from crossbay.payments.errors import WebhookMalformed, WebhookSignatureInvalid, WebhookTimestampStale
from crossbay.payments.providers import REFUND_PENDING, CheckoutRequest
from crossbay.payments.service import PaymentNotice
from crossbay.payments.wechatpay import (
    NotificationInvalid,
    WechatPayAnswerUnverified,
    WechatPayClient,
    WechatPayError,
    WechatPayProvider,
    WechatPayUnavailable,
)
from crossbay.payments.wechatpay_crypto import (
    decrypt_resource,
    load_private_key,
    new_nonce,
    signature_headers,
    verify_signature,
)
from crossbay.runtime import Runtime
from crossbay.sandbox.wechatpay import router as wechatpay_router
from crossbay.sandbox.wechatpay_models import SandboxWechatPayRefund, SandboxWechatPayTransaction
from crossbay.sandbox.wechatpay_wire import notification_body
from crossbay.settings import Settings
from tests.support import keys
from tests.support.journey import poll
from tests.support.threaded_server import serve_in_thread

REPEATS = 2
RETURN_URL = "https://shop.example/orders/ord_1?from=wechatpay"
HKD_88 = Money(8800, "HKD")


@dataclass
class Delivery:
    headers: dict[str, str]
    body: bytes
    notice: PaymentNotice | None

    @property
    def event(self) -> dict[str, Any]:
        value: dict[str, Any] = json.loads(self.body)
        return value


@dataclass
class Receiver:
    """Our side: each delivery read by WechatPayProvider.read_notification, as /webhooks/wechatpay does."""

    provider: WechatPayProvider | None = None
    deliveries: list[Delivery] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    fail_next: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def of(self, out_trade_no: str) -> list[Delivery]:
        assert self.provider is not None
        key = self.provider.apiv3_key
        with self.lock:
            found = list(self.deliveries)
        return [
            d
            for d in found
            if json.loads(decrypt_resource(key, d.event["resource"]))["out_trade_no"] == out_trade_no
        ]


@dataclass
class Harness:
    base_url: str
    runtime: Runtime
    provider: WechatPayProvider
    client: WechatPayClient
    http: httpx.Client
    receiver: Receiver

    @property
    def notify_url(self) -> str:
        return f"{self.base_url}/webhooks/wechatpay"

    def client_with(self, **changes: Any) -> WechatPayClient:
        s = self.runtime.settings
        args: dict[str, Any] = {
            "api_url": s.partner_url("wechatpay_api"),
            "mchid": s.wechatpay_mchid,
            "appid": s.wechatpay_appid,
            "serial_no": s.wechatpay_serial_no,
            "private_key_pem": s.secret("wechatpay_private_key"),
            "platform_public_key_pem": s.secret("wechatpay_platform_public_key"),
            "platform_public_key_id": s.wechatpay_platform_public_key_id,
        }
        extra = {k: changes.pop(k) for k in ("clock", "timeout") if k in changes}
        args.update(changes)
        return WechatPayClient(**args, http=self.http, **extra)

    def session(self) -> Session:
        return self.runtime.sessions()


def _build_app(receiver: Receiver) -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)
    app.include_router(wechatpay_router)

    @app.post("/webhooks/wechatpay")
    async def receive(request: Request) -> Response:
        body = await request.body()
        with receiver.lock:
            if receiver.fail_next:
                receiver.fail_next -= 1
                return Response(status_code=500)
        assert receiver.provider is not None
        try:
            notice = receiver.provider.read_notification(request.headers, body, now=datetime.now(UTC))
        except CrossbayError as error:
            with receiver.lock:
                receiver.refused.append(error.code)
            return Response(status_code=error.status)
        with receiver.lock:
            receiver.deliveries.append(Delivery(dict(request.headers), body, notice))
        ack = receiver.provider.acknowledgement()
        return Response(ack.body, status_code=ack.status, media_type=ack.media_type)

    return app


@pytest.fixture(scope="module")
def harness(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    db_path: Path = tmp_path_factory.mktemp("wechatpay") / "sandbox.db"
    engine = make_engine(f"sqlite:///{db_path}")
    tables = [SandboxWechatPayTransaction.__table__, SandboxWechatPayRefund.__table__]
    Base.metadata.create_all(engine, tables=tables)
    receiver = Receiver()
    app = _build_app(receiver)
    runtime = Runtime(settings=Settings(sandbox=True), engine=engine)
    app.state.runtime = runtime
    with serve_in_thread(app) as base_url, httpx.Client(timeout=10.0) as http:
        # The port is known only once listening; nothing has called the sandbox before this.
        runtime.settings = Settings(
            sandbox=True,
            base_url=base_url,
            **keys.secret_values(),
            sandbox_webhook_repeats=REPEATS,
            sandbox_webhook_repeat_delay_seconds=0.05,
        )
        s = runtime.settings
        client = WechatPayClient(
            s.partner_url("wechatpay_api"),
            s.wechatpay_mchid,
            s.wechatpay_appid,
            s.wechatpay_serial_no,
            s.secret("wechatpay_private_key"),
            s.secret("wechatpay_platform_public_key"),
            s.wechatpay_platform_public_key_id,
            http=http,
        )
        provider = WechatPayProvider(client, apiv3_key=s.secret("wechatpay_apiv3_key"))
        receiver.provider = provider
        try:
            yield Harness(base_url, runtime, provider, client, http, receiver)
        finally:
            # Let the sandbox finish its repeat deliveries while someone is still listening.
            poll(
                lambda: any(t.name == "sandbox-notifier" for t in threading.enumerate()),
                lambda busy: not busy,
            )
    runtime.close()


def _payment_id() -> str:
    return f"pay_{secrets.token_hex(10)}"


def _checkout(harness: Harness, payment_id: str, amount: Money = HKD_88) -> str:
    request = CheckoutRequest(payment_id, amount, "Hong Kong 5GB / 7 days", RETURN_URL, harness.notify_url)
    checkout = harness.provider.open_checkout(request)
    assert checkout.reference == payment_id
    return checkout.redirect_url


def _form_action(page: str, action: str) -> str:
    match = re.search(rf'action="([^"]*/{action}[^"]*)"', page)
    assert match, page
    return html.unescape(match[1])


def _pay(harness: Harness, payment_id: str) -> httpx.Response:
    page = harness.http.get(_checkout(harness, payment_id))
    assert page.status_code == 200
    return harness.http.post(harness.base_url + _form_action(page.text, "approve"))


@dataclass(frozen=True)
class Paid:
    payment_id: str
    first: Delivery


@pytest.fixture(scope="module")
def paid(harness: Harness) -> Paid:
    """One order paid through the cashier, with its first genuine notification."""
    payment_id = _payment_id()
    assert _pay(harness, payment_id).status_code == 303
    return Paid(payment_id, harness.receiver.of(payment_id)[0])


class TestCheckout:
    def test_opens_an_h5_payment_that_returns_to_the_merchant(self, harness: Harness) -> None:
        payment_id = _payment_id()

        redirect_url = _checkout(harness, payment_id)

        assert redirect_url.startswith(f"{harness.base_url}/sandbox/pay/wechatpay/{payment_id}?prepay_id=wx")
        assert redirect_url.endswith("&redirect_url=" + quote(RETURN_URL, safe=""))
        assert harness.client.query(payment_id).trade_state == "NOTPAY"

    def test_cashier_page_is_self_contained_in_three_languages(self, harness: Harness) -> None:
        redirect_url = _checkout(harness, _payment_id())

        pages = {
            lang: harness.http.get(f"{redirect_url}&lang={lang}") for lang in ("zh-Hant", "zh-Hans", "en")
        }

        assert "確認支付" in pages["zh-Hant"].text
        assert "确认支付" in pages["zh-Hans"].text
        assert "Pay now" in pages["en"].text and "HK$88.00" in pages["en"].text
        policy = pages["en"].headers["content-security-policy"]
        assert "default-src 'none'" in policy and "style-src 'sha256-" in policy
        assert "form-action 'self' https://shop.example" in policy
        assert "<script" not in pages["en"].text

    def test_same_order_again_gives_the_same_cashier(self, harness: Harness) -> None:
        payment_id = _payment_id()

        assert _checkout(harness, payment_id) == _checkout(harness, payment_id)

    def test_same_out_trade_no_with_other_parameters_is_refused(self, harness: Harness) -> None:
        payment_id = _payment_id()
        _checkout(harness, payment_id)

        with pytest.raises(WechatPayError) as refused:
            _checkout(harness, payment_id, Money(9900, "HKD"))
        assert refused.value.provider_code == "INVALID_REQUEST"
        assert refused.value.status == 502 and not refused.value.retryable

    def test_native_answers_a_code_url(self, harness: Harness) -> None:
        payment_id = _payment_id()

        code_url = harness.client.native(payment_id, HKD_88, "QR order", harness.notify_url)

        assert code_url.startswith(f"{harness.base_url}/sandbox/pay/wechatpay/{payment_id}?pr=wx")
        assert harness.client.query(payment_id).trade_state == "NOTPAY"


class TestPayment:
    def test_approve_notifies_before_sending_the_payer_back(self, harness: Harness) -> None:
        payment_id = _payment_id()

        answer = _pay(harness, payment_id)

        assert answer.status_code == 303
        assert answer.headers["location"] == RETURN_URL
        first = harness.receiver.of(payment_id)
        assert first, "the first delivery happens before the payer is sent back"
        assert first[0].notice == PaymentNotice(
            provider="wechatpay",
            event_id=first[0].event["id"],
            kind="TRANSACTION.SUCCESS",
            reference=payment_id,
            amount=HKD_88,
            outcome="succeeded",
        )

    def test_notification_repeats_with_the_same_id(self, harness: Harness, paid: Paid) -> None:
        deliveries = poll(
            lambda: harness.receiver.of(paid.payment_id), lambda found: len(found) >= 1 + REPEATS
        )

        assert {d.event["id"] for d in deliveries} == {paid.first.event["id"]}
        assert {d.notice for d in deliveries} == {paid.first.notice}
        assert paid.first.event["resource"]["associated_data"] == "transaction"
        assert len(paid.first.event["resource"]["nonce"]) == 12
        assert harness.receiver.refused == []

    def test_a_failed_delivery_is_retried(self, harness: Harness) -> None:
        payment_id = _payment_id()
        with harness.receiver.lock:
            harness.receiver.fail_next = 1

        _pay(harness, payment_id)

        assert poll(lambda: harness.receiver.of(payment_id), bool)[0].notice is not None

    def test_query_shows_the_payment(self, harness: Harness, paid: Paid) -> None:
        transaction = harness.client.query(paid.payment_id)

        assert (transaction.trade_state, transaction.amount) in {("SUCCESS", HKD_88), ("REFUND", HKD_88)}
        assert transaction.transaction_id is not None and transaction.transaction_id.startswith("4200")
        assert transaction.success_time is not None and transaction.success_time.endswith("+08:00")

    def test_a_paid_order_cannot_be_opened_again_or_closed(self, harness: Harness, paid: Paid) -> None:
        with pytest.raises(WechatPayError) as reopened:
            _checkout(harness, paid.payment_id)
        with pytest.raises(WechatPayError) as closed:
            harness.provider.close(reference=paid.payment_id, payment_id=paid.payment_id)

        assert reopened.value.provider_code == "ORDERPAID"
        assert closed.value.provider_code == "ORDERPAID"

    def test_approving_twice_is_refused(self, harness: Harness, paid: Paid) -> None:
        again = harness.http.post(f"{harness.base_url}/sandbox/pay/wechatpay/{paid.payment_id}/approve")

        assert again.status_code == 409

    def test_decline_notifies_nothing_and_sends_the_payer_back(self, harness: Harness) -> None:
        payment_id = _payment_id()
        page = harness.http.get(_checkout(harness, payment_id))

        answer = harness.http.post(harness.base_url + _form_action(page.text, "decline"))

        assert (answer.status_code, answer.headers["location"]) == (303, RETURN_URL)
        assert harness.client.query(payment_id).trade_state == "NOTPAY"
        assert harness.receiver.of(payment_id) == []


def _notifying(harness: Harness) -> WechatPayProvider:
    """The provider as the runtime builds it: refunds name our webhook as their notify_url."""
    return WechatPayProvider(
        harness.client, apiv3_key=harness.provider.apiv3_key, refund_notify_url=harness.notify_url
    )


class TestRefundAndClose:
    def test_refund_twice_with_one_out_refund_no_refunds_once(self, harness: Harness) -> None:
        payment_id = _payment_id()
        _pay(harness, payment_id)

        harness.provider.refund(reference=payment_id, refund_id=f"refund-{payment_id}", amount=HKD_88)
        harness.provider.refund(reference=payment_id, refund_id=f"refund-{payment_id}", amount=HKD_88)

        with harness.session() as session, session.begin():
            refunds = session.scalars(
                select(SandboxWechatPayRefund).where(SandboxWechatPayRefund.out_trade_no == payment_id)
            ).all()
            refunded = session.get(SandboxWechatPayTransaction, payment_id)
            assert refunded is not None
            assert [(r.out_refund_no, r.amount) for r in refunds] == [(f"refund-{payment_id}", 8800)]
            assert refunded.amount_refunded == 8800
        assert harness.client.query(payment_id).trade_state == "REFUND"

    def test_a_partial_refund_is_processing_then_notified_and_not_ours_to_apply(
        self, harness: Harness
    ) -> None:
        payment_id = _payment_id()
        _pay(harness, payment_id)

        refund = harness.client.refund(
            payment_id, f"refund-{payment_id}", Money(3000, "HKD"), HKD_88, notify_url=harness.notify_url
        )

        assert (refund.status, refund.amount, refund.out_trade_no) == (
            "PROCESSING",
            Money(3000, "HKD"),
            payment_id,
        )
        events = poll(
            lambda: [d for d in harness.receiver.of(payment_id) if d.event["event_type"] == "REFUND.SUCCESS"],
            bool,
        )
        assert events[0].notice is None  # we refund whole payments only: a partial one is not ours

    def test_a_full_refund_is_pending_until_refund_success_is_notified(self, harness: Harness) -> None:
        payment_id = _payment_id()
        _pay(harness, payment_id)

        result = _notifying(harness).refund(
            reference=payment_id, refund_id=f"refund-{payment_id}", amount=HKD_88
        )

        assert result == REFUND_PENDING
        event = poll(
            lambda: [d for d in harness.receiver.of(payment_id) if d.event["event_type"] == "REFUND.SUCCESS"],
            bool,
        )[0]  # WeChat Pay repeats a notification: the first will do
        assert event.notice is not None
        assert (event.notice.kind, event.notice.outcome, event.notice.amount) == (
            "refund",
            "refunded",
            HKD_88,
        )

    def test_refund_query_tells_how_a_refund_ended(self, harness: Harness) -> None:
        paid, closed = _payment_id(), _payment_id()
        _pay(harness, paid)
        page = harness.http.get(_checkout(harness, closed))
        harness.http.post(
            harness.base_url + _form_action(page.text, "approve"), params={"payer_account": "closed"}
        )
        for payment_id in (paid, closed):
            harness.provider.refund(reference=payment_id, refund_id=f"refund-{payment_id}", amount=HKD_88)

        done = harness.provider.query_refund(reference=paid, refund_id=f"refund-{paid}", amount=HKD_88)
        failed = harness.provider.query_refund(reference=closed, refund_id=f"refund-{closed}", amount=HKD_88)

        assert done is not None and (done.kind, done.outcome, done.amount) == ("refund", "refunded", HKD_88)
        assert failed is not None and failed.outcome == "refund_failed"
        with pytest.raises(WechatPayError) as unknown:
            harness.provider.query_refund(reference=paid, refund_id="refund-unknown", amount=HKD_88)
        assert unknown.value.provider_code == "RESOURCE_NOT_EXISTS"

    def test_a_refund_to_a_closed_account_is_notified_abnormal(self, harness: Harness) -> None:
        payment_id = _payment_id()
        page = harness.http.get(_checkout(harness, payment_id))
        harness.http.post(
            harness.base_url + _form_action(page.text, "approve"), params={"payer_account": "closed"}
        )

        result = _notifying(harness).refund(
            reference=payment_id, refund_id=f"refund-{payment_id}", amount=HKD_88
        )

        assert result == REFUND_PENDING
        [event] = poll(
            lambda: [
                d for d in harness.receiver.of(payment_id) if d.event["event_type"] == "REFUND.ABNORMAL"
            ],
            bool,
        )
        assert event.notice is not None and event.notice.outcome == "refund_failed"
        assert harness.client.query(payment_id).trade_state == "SUCCESS"  # the money never left

    def test_refund_reused_with_another_amount_is_refused(self, harness: Harness) -> None:
        payment_id = _payment_id()
        _pay(harness, payment_id)
        harness.client.refund(payment_id, f"refund-{payment_id}", Money(1000, "HKD"), HKD_88)

        with pytest.raises(WechatPayError) as refused:
            harness.client.refund(payment_id, f"refund-{payment_id}", Money(2000, "HKD"), HKD_88)
        assert refused.value.provider_code == "INVALID_REQUEST"

    def test_refund_of_an_unpaid_order_is_refused(self, harness: Harness) -> None:
        payment_id = _payment_id()
        _checkout(harness, payment_id)

        with pytest.raises(WechatPayError) as refused:
            harness.provider.refund(reference=payment_id, refund_id=f"refund-{payment_id}", amount=HKD_88)
        assert refused.value.provider_code == "INVALID_REQUEST"

    def test_close_stops_payment_and_is_repeatable(self, harness: Harness) -> None:
        payment_id = _payment_id()
        redirect_url = _checkout(harness, payment_id)

        harness.provider.close(reference=payment_id, payment_id=payment_id)
        harness.provider.close(reference=payment_id, payment_id=payment_id)

        assert harness.client.query(payment_id).trade_state == "CLOSED"
        assert "Pay now" not in harness.http.get(f"{redirect_url}&lang=en").text
        approve = harness.http.post(f"{harness.base_url}/sandbox/pay/wechatpay/{payment_id}/approve")
        assert approve.status_code == 409
        with pytest.raises(WechatPayError) as reopened:
            _checkout(harness, payment_id)
        assert reopened.value.provider_code == "ORDER_CLOSED"

    def test_unknown_order(self, harness: Harness) -> None:
        with pytest.raises(WechatPayError) as refused:
            harness.client.query(_payment_id())
        assert refused.value.provider_code == "ORDER_NOT_EXIST"


class TestSignatures:
    def test_a_wrong_merchant_key_is_refused(self, harness: Harness) -> None:
        other_key = keys.secret_values()["alipay_private_key"]

        with pytest.raises(WechatPayError) as refused:
            harness.client_with(private_key_pem=other_key).query(_payment_id())
        assert refused.value.provider_code == "SIGN_ERROR"

    def test_a_stale_request_is_refused(self, harness: Harness) -> None:
        clock = FrozenClock(datetime.now(UTC) - timedelta(minutes=6))

        with pytest.raises(WechatPayError) as refused:
            harness.client_with(clock=clock).native(_payment_id(), HKD_88, "late", harness.notify_url)
        assert refused.value.provider_code == "SIGN_ERROR"

    @pytest.mark.parametrize(
        "authorization",
        [
            None,
            'WECHATPAY2-SHA256-RSA2048 mchid="1900000001",nonce_str="n",signature="c2ln",'
            'timestamp="{ts}",serial_no="5157F09EFDC096DE15EBE81A47057A7232F1B8E1"',
        ],
    )
    def test_raw_requests_without_a_good_signature_get_a_signed_401(
        self, harness: Harness, authorization: str | None
    ) -> None:
        headers = {"Content-Type": "application/json"}
        if authorization:
            headers["Authorization"] = authorization.format(ts=int(time.time()))
        response = harness.http.post(
            harness.runtime.settings.partner_url("wechatpay_api") + "/v3/pay/transactions/native",
            content=b"{}",
            headers=headers,
        )

        assert response.status_code == 401
        assert response.json()["code"] == "SIGN_ERROR"
        verify_signature(
            response.headers,
            response.content,
            public_key=harness.client.platform_key,
            public_key_id=harness.client.platform_key_id,
            now=datetime.now(UTC),
        )

    def test_an_answer_not_signed_by_the_platform_is_refused(self, harness: Harness) -> None:
        impostor = harness.client_with(platform_public_key_pem=keys.secret_values()["alipay_public_key"])

        with pytest.raises(WechatPayAnswerUnverified):
            impostor.native(_payment_id(), HKD_88, "impostor", harness.notify_url)

    def test_an_answer_under_another_key_id_is_refused(self, harness: Harness) -> None:
        other = harness.client_with(platform_public_key_id="PUB_KEY_ID_0000000000000000000000000009")

        with pytest.raises(WechatPayAnswerUnverified):
            other.query(_payment_id()) if False else other.native(
                _payment_id(), HKD_88, "x", harness.notify_url
            )

    def test_an_unreachable_provider_is_retryable(self, harness: Harness) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        down = harness.client_with(api_url=f"http://127.0.0.1:{port}/sandbox/wechatpay", timeout=2.0)

        with pytest.raises(WechatPayUnavailable) as unavailable:
            down.query(_payment_id())
        assert unavailable.value.retryable and unavailable.value.status == 503

    def test_the_sdk_accepts_a_delivered_notification(self, harness: Harness, paid: Paid) -> None:
        wechatpayv3 = pytest.importorskip("wechatpayv3")
        s = harness.runtime.settings
        sdk = wechatpayv3.WeChatPay(
            wechatpay_type=wechatpayv3.WeChatPayType.H5,
            mchid=s.wechatpay_mchid,
            private_key=s.secret("wechatpay_private_key"),
            cert_serial_no=s.wechatpay_serial_no,
            appid=s.wechatpay_appid,
            apiv3_key=s.secret("wechatpay_apiv3_key"),
            notify_url=harness.notify_url,
            public_key=s.secret("wechatpay_platform_public_key"),
            public_key_id=s.wechatpay_platform_public_key_id,
        )
        headers = {name.title(): value for name, value in paid.first.headers.items()}

        result = sdk.callback(headers, paid.first.body)

        assert result["resource"]["out_trade_no"] == paid.payment_id
        assert result["resource"]["trade_state"] == "SUCCESS"


def test_sandbox_is_absent_when_sandbox_mode_is_off(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'off.db'}")
    app = FastAPI()
    install_problem_handlers(app)
    app.include_router(wechatpay_router)
    app.state.runtime = Runtime(settings=Settings(sandbox=False), engine=engine)
    with serve_in_thread(app) as base_url, httpx.Client() as http:
        for method, path in (
            ("POST", "/sandbox/wechatpay/v3/pay/transactions/h5"),
            ("GET", "/sandbox/wechatpay/v3/pay/transactions/out-trade-no/pay_123456?mchid=1"),
            ("GET", "/sandbox/pay/wechatpay/pay_123456"),
        ):
            assert http.request(method, base_url + path).status_code == 404
    engine.dispose()


# --- bad notifications -------------------------------------------------------------------------


@dataclass(frozen=True)
class Forge:
    """Makes notifications as the platform would (or as an attacker can), from one genuine one."""

    harness: Harness
    genuine: Delivery

    @property
    def plain(self) -> dict[str, Any]:
        value: dict[str, Any] = json.loads(
            decrypt_resource(self.harness.provider.apiv3_key, self.genuine.event["resource"])
        )
        return value

    def body(
        self, plain: dict[str, Any], *, event_type: str = "TRANSACTION.SUCCESS", key: str | None = None
    ) -> bytes:
        return notification_body(
            event_id=f"forged-{secrets.token_hex(4)}",
            event_type=event_type,
            summary="支付成功",
            original_type="refund" if event_type.startswith("REFUND") else "transaction",
            plain=plain,
            apiv3_key=key or self.harness.provider.apiv3_key,
            created=datetime.now(UTC),
        )

    def signed(self, body: bytes, *, ts: int | None = None, serial: str | None = None) -> dict[str, str]:
        s = self.harness.runtime.settings
        return signature_headers(
            load_private_key(s.secret("wechatpay_sandbox_platform_private_key")),
            body,
            serial=serial or s.wechatpay_platform_public_key_id,
            timestamp=ts if ts is not None else int(time.time()),
            nonce=new_nonce(),
        )


Case = Callable[[Forge], tuple[dict[str, str], bytes, datetime]]


def _now() -> datetime:
    return datetime.now(UTC)


def _fresh(forge: Forge, body: bytes) -> tuple[dict[str, str], bytes, datetime]:
    return forge.signed(body), body, _now()


def _bad_signature(f: Forge) -> tuple[dict[str, str], bytes, datetime]:
    body = f.body(f.plain)
    headers = {**f.signed(body), "Wechatpay-Signature": f.signed(f.body(f.plain))["Wechatpay-Signature"]}
    return headers, body, _now()


def _tampered_ciphertext(f: Forge) -> tuple[dict[str, str], bytes, datetime]:
    event = json.loads(f.body(f.plain))
    cipher = event["resource"]["ciphertext"]
    event["resource"]["ciphertext"] = ("A" if cipher[0] != "A" else "B") + cipher[1:]
    return _fresh(f, json.dumps(event).encode())  # even signed, AES-GCM's tag gives it away


def _tampered_amount(f: Forge) -> tuple[dict[str, str], bytes, datetime]:
    headers = f.signed(f.genuine.body)
    cheaper = {**f.plain, "amount": {**f.plain["amount"], "total": 1}}
    return headers, f.body(cheaper), _now()  # re-encrypted, but the signature is over the old body


def _other(field_name: str, value: str) -> Case:
    return lambda f: _fresh(f, f.body({**f.plain, field_name: value}))


def _wrong_serial(f: Forge) -> tuple[dict[str, str], bytes, datetime]:
    body = f.body(f.plain)
    return f.signed(body, serial="PUB_KEY_ID_0000000000000000000000000002"), body, _now()


def _replayed_later(f: Forge) -> tuple[dict[str, str], bytes, datetime]:
    ts = int(f.genuine.headers["wechatpay-timestamp"])
    return f.genuine.headers, f.genuine.body, datetime.fromtimestamp(ts + 301, UTC)


def _from_the_future(f: Forge) -> tuple[dict[str, str], bytes, datetime]:
    body = f.body(f.plain)
    return f.signed(body, ts=int(time.time()) + 600), body, _now()


def _wrong_currency(f: Forge) -> tuple[dict[str, str], bytes, datetime]:
    return _fresh(f, f.body({**f.plain, "amount": {**f.plain["amount"], "currency": "USD"}}))


def _refund_before_payment(f: Forge) -> tuple[dict[str, str], bytes, datetime]:
    refund = {
        "mchid": f.plain["mchid"],
        "out_trade_no": _payment_id(),
        "transaction_id": "4200000000000000000000000009",
        "out_refund_no": "refund-early",
        "refund_id": "50000000000000000000000000009",
        "refund_status": "SUCCESS",
        "amount": {
            "total": 8800,
            "refund": 8800,
            "payer_total": 8800,
            "payer_refund": 8800,
            "currency": "HKD",
        },
    }
    return _fresh(f, f.body(refund, event_type="REFUND.SUCCESS"))


def _missing_headers(f: Forge) -> tuple[dict[str, str], bytes, datetime]:
    return {"Content-Type": "application/json"}, f.genuine.body, _now()


def _other_apiv3_key(f: Forge) -> tuple[dict[str, str], bytes, datetime]:
    return _fresh(f, f.body(f.plain, key="f" * 32))


def _not_json(f: Forge) -> tuple[dict[str, str], bytes, datetime]:
    return _fresh(f, b"event_type=TRANSACTION.SUCCESS")


def _not_paid(f: Forge) -> tuple[dict[str, str], bytes, datetime]:
    return _fresh(f, f.body({**f.plain, "trade_state": "NOTPAY"}))


BAD_NOTIFICATIONS: list[tuple[str, Case, type[CrossbayError] | None]] = [
    ("bad signature", _bad_signature, WebhookSignatureInvalid),
    ("tampered ciphertext", _tampered_ciphertext, NotificationInvalid),
    ("tampered amount, signature over the old body", _tampered_amount, WebhookSignatureInvalid),
    ("other mchid", _other("mchid", "1900000002"), NotificationInvalid),
    ("other appid", _other("appid", "wx0000000000000002"), NotificationInvalid),
    ("wrong serial", _wrong_serial, WebhookSignatureInvalid),
    ("stale: replay of an old good one", _replayed_later, WebhookTimestampStale),
    ("timestamp from the future", _from_the_future, WebhookTimestampStale),
    ("wrong currency", _wrong_currency, NotificationInvalid),
    ("missing signature headers", _missing_headers, WebhookSignatureInvalid),
    ("encrypted with another APIv3 key", _other_apiv3_key, NotificationInvalid),
    ("signed but not JSON", _not_json, WebhookMalformed),
    ("success event for an unpaid trade", _not_paid, None),
]


@pytest.mark.parametrize(
    ("case", "expected"), [(c, e) for _, c, e in BAD_NOTIFICATIONS], ids=[n for n, _, _ in BAD_NOTIFICATIONS]
)
def test_bad_notifications_are_refused_or_ignored(
    harness: Harness, paid: Paid, case: Case, expected: type[CrossbayError] | None
) -> None:
    headers, body, now = case(Forge(harness, paid.first))

    if expected is None:
        assert harness.provider.read_notification(headers, body, now=now) is None
    else:
        with pytest.raises(expected):
            harness.provider.read_notification(headers, body, now=now)


def test_a_refund_event_before_any_payment_reads_as_a_refund_notice(harness: Harness, paid: Paid) -> None:
    # Genuine: it is read; record_notice then refuses it unrecorded (tests/integration/test_refunds.py).
    headers, body, now = _refund_before_payment(Forge(harness, paid.first))
    notice = harness.provider.read_notification(headers, body, now=now)
    assert notice is not None and (notice.kind, notice.outcome, notice.amount) == (
        "refund",
        "refunded",
        HKD_88,
    )


def test_a_replay_inside_the_window_is_the_same_notice(harness: Harness, paid: Paid) -> None:
    # Genuine and fresh: read again to the same event id, which record_notice applies only once.
    notice = harness.provider.read_notification(paid.first.headers, paid.first.body, now=_now())

    assert notice == paid.first.notice


def test_a_currency_we_charge_in_but_not_this_order_is_left_to_the_amount_check(
    harness: Harness, paid: Paid
) -> None:
    forge = Forge(harness, paid.first)
    body = forge.body({**forge.plain, "amount": {**forge.plain["amount"], "currency": "CNY"}})

    notice = harness.provider.read_notification(forge.signed(body), body, now=_now())

    # record_notice compares Money(8800, "CNY") with the payment's Money(8800, "HKD") and refuses it.
    assert notice is not None and notice.amount == Money(8800, "CNY") != HKD_88

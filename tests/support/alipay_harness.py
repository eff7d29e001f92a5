"""The sandbox Alipay served over real HTTP, with a receiver that reads notifications as ours must."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qsl

import httpx
from fastapi import FastAPI, Request, Response

from crossbay.api.problems import install_problem_handlers
from crossbay.db import Base, make_engine
from crossbay.errors import CrossbayError
from crossbay.money import Money
from crossbay.payments.alipay import AlipayClient, AlipayProvider
from crossbay.payments.providers import Checkout, CheckoutRequest
from crossbay.payments.service import PaymentNotice
from crossbay.runtime import Runtime
from crossbay.sandbox.alipay import router as alipay_router
from crossbay.sandbox.alipay_models import SandboxAlipayRefund, SandboxAlipayTrade
from crossbay.settings import Settings
from tests.support import keys
from tests.support.journey import poll
from tests.support.threaded_server import serve_in_thread

REPEATS = 2
RETURN_URL = "https://shop.example/orders/ord_1?from=alipay"
HKD88 = Money(8800, "HKD")
KEYS = keys.secret_values()
ALIPAY_KEY, MERCHANT_KEY = KEYS["alipay_sandbox_private_key"], KEYS["alipay_private_key"]


def _settings(base_url: str) -> Settings:
    return Settings(
        sandbox=True,
        base_url=base_url,
        **KEYS,
        sandbox_webhook_repeats=REPEATS,
        sandbox_webhook_repeat_delay_seconds=0.05,
    )


@dataclass
class Delivery:
    params: dict[str, str]
    body: bytes
    notice: PaymentNotice | None


@dataclass
class Receiver:
    """Our side of the notification: read by the real provider exactly as ``/webhooks/alipay`` must."""

    provider: AlipayProvider | None = None
    deliveries: list[Delivery] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    fail_next: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def for_trade(self, out_trade_no: str) -> list[Delivery]:
        with self.lock:
            return [d for d in self.deliveries if d.params.get("out_trade_no") == out_trade_no]


@dataclass
class Harness:
    base_url: str
    http: httpx.Client
    runtime: Runtime
    provider: AlipayProvider
    receiver: Receiver

    @property
    def client(self) -> AlipayClient:
        return self.provider.client

    def checkout(self, amount: Money = HKD88, *, payment_id: str | None = None) -> Checkout:
        return self.provider.open_checkout(
            CheckoutRequest(
                payment_id=payment_id or "pay_" + uuid.uuid4().hex[:20],
                amount=amount,
                description="5GB 香港數據 7 日",
                return_url=RETURN_URL,
                notify_url=f"{self.base_url}/webhooks/alipay",
            )
        )

    def open(self, checkout: Checkout) -> str:
        """Follow the signed link as a browser does; answers the cashier's address."""
        answer = self.http.get(checkout.redirect_url)
        assert answer.status_code == 303, answer.text
        return answer.headers["location"]

    def approve(self, out_trade_no: str) -> httpx.Response:
        return self.http.post(f"{self.base_url}/sandbox/pay/alipay/{out_trade_no}/approve")

    def paid(self, amount: Money = HKD88, *, payment_id: str | None = None) -> str:
        """A trade opened, paid, and every delivery of its notification in."""
        checkout = self.checkout(amount, payment_id=payment_id)
        self.open(checkout)
        assert self.approve(checkout.reference).status_code == 303
        poll(lambda: self.receiver.for_trade(checkout.reference), lambda d: len(d) >= 1 + REPEATS, timeout=10)
        return checkout.reference


def _build_app(receiver: Receiver) -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)
    app.include_router(alipay_router)

    @app.post("/webhooks/alipay")
    async def receive_alipay_notification(request: Request) -> Response:
        body = await request.body()
        with receiver.lock:
            if receiver.fail_next:
                receiver.fail_next -= 1
                return Response("fail", status_code=503)
        assert receiver.provider is not None
        try:
            notice = receiver.provider.read_notification(request.headers, body, now=datetime.now(UTC))
        except CrossbayError as error:
            with receiver.lock:
                receiver.refused.append(error.code)
            return Response("fail", status_code=error.status)
        with receiver.lock:
            receiver.deliveries.append(Delivery(dict(parse_qsl(body.decode())), body, notice))
        ack = receiver.provider.acknowledgement()
        return Response(ack.body, status_code=ack.status, media_type=ack.media_type)

    return app


def _no_notifier_threads() -> bool:
    return not any(t.name == "sandbox-notifier" for t in threading.enumerate())


@contextmanager
def serve_alipay_sandbox(db_path: Path) -> Iterator[Harness]:
    """The sandbox Alipay and a notification receiver, served over real HTTP on a temporary database."""
    engine = make_engine(f"sqlite:///{db_path}")
    Base.metadata.create_all(engine, tables=[SandboxAlipayTrade.__table__, SandboxAlipayRefund.__table__])
    receiver = Receiver()
    app = _build_app(receiver)
    runtime = Runtime(settings=_settings("http://127.0.0.1"), engine=engine)
    app.state.runtime = runtime
    with serve_in_thread(app) as base_url, httpx.Client(timeout=10.0) as http:
        # The port is known only once listening; nothing has called the sandbox before this.
        runtime.settings = settings = _settings(base_url)
        client = AlipayClient(
            settings.partner_url("alipay_gateway"),
            settings.alipay_app_id,
            settings.secret("alipay_private_key"),
            settings.secret("alipay_public_key"),
            http=http,
        )
        receiver.provider = AlipayProvider(
            client, seller_id=settings.alipay_seller_id, checkout_ttl=timedelta(minutes=30)
        )
        try:
            yield Harness(base_url, http, runtime, receiver.provider, receiver)
        finally:
            # Let the sandbox finish its repeat deliveries while someone is still listening.
            poll(_no_notifier_threads, bool, timeout=20, interval=0.01)
    runtime.close()

"""The real CardClient against the sandbox card provider, over HTTP, with webhooks delivered for real."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import stripe
from fastapi import FastAPI, Request, Response

from crossbay.api.problems import install_problem_handlers
from crossbay.db import Base, make_engine
from crossbay.errors import CrossbayError
from crossbay.money import Money
from crossbay.payments.card import (
    CardClient,
    CardEvent,
    CardIntent,
    CardProvider,
    intent_from_object,
    verify_webhook,
)
from crossbay.payments.errors import CardProviderError, CardProviderUnavailable
from crossbay.runtime import Runtime
from crossbay.sandbox.card import router as card_router
from crossbay.sandbox.card_models import (
    SandboxCardBalanceTransaction,
    SandboxCardIntent,
    SandboxCardRefund,
    SandboxCardRequest,
)
from crossbay.settings import Settings
from tests.support.threaded_server import serve_in_thread

SECRET_KEY = "sk_test_sandbox_4f9c2a"
WEBHOOK_SECRET = "whsec_c2FuZGJveC13ZWJob29rLXNlY3JldA=="
REPEATS = 2
RETURN_URL = "https://shop.example/orders/ord_1?from=card"
T = TypeVar("T")


@dataclass
class Delivery:
    signature: str
    body: bytes
    event: CardEvent


@dataclass
class Receiver:
    """Our side of the webhook: verifies each delivery exactly as the real endpoint must."""

    deliveries: list[Delivery] = field(default_factory=list)
    refused: int = 0
    fail_next: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def for_intent(self, intent_id: str) -> list[Delivery]:
        with self.lock:
            return [d for d in self.deliveries if _intent_id_of(d.event) == intent_id]


def _intent_id_of(event: CardEvent) -> str | None:
    obj = event.object
    return obj.get("payment_intent") if obj.get("object") == "charge" else obj.get("id")


@dataclass
class Harness:
    base_url: str
    client: CardClient
    http: httpx.Client
    receiver: Receiver


def _build_app(receiver: Receiver) -> FastAPI:
    app = FastAPI()
    app.include_router(card_router)

    @app.post("/webhooks/card")
    async def receive_card_webhook(request: Request) -> Response:
        body = await request.body()
        with receiver.lock:
            if receiver.fail_next:
                receiver.fail_next -= 1
                return Response(status_code=503)
        signature = request.headers.get("stripe-signature")
        try:
            event = verify_webhook(body, signature, WEBHOOK_SECRET, now=datetime.now(UTC))
        except CrossbayError as error:
            with receiver.lock:
                receiver.refused += 1
            return Response(status_code=error.status)
        with receiver.lock:
            receiver.deliveries.append(Delivery(signature or "", body, event))
        return Response(status_code=200)

    return app


def _wait_for(check: Callable[[], T], *, timeout: float = 10.0) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s (last value {value!r})")
        time.sleep(0.01)


@pytest.fixture(scope="module")
def harness(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    db_path: Path = tmp_path_factory.mktemp("card") / "sandbox.db"
    engine = make_engine(f"sqlite:///{db_path}")
    tables = [
        SandboxCardIntent.__table__,
        SandboxCardRefund.__table__,
        SandboxCardRequest.__table__,
        SandboxCardBalanceTransaction.__table__,
    ]
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
            session_key="c2Vzc2lvbi1rZXktZm9yLXRlc3RzLW9ubHktMzJieXQ=",
            pii_key="MDEyMzQ1Njc4OTAxMjM0NTY3ODkwMTIzNDU2Nzg5MDE=",
            pii_lookup_key="YWJjZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXoxMjM0NTY=",
            card_secret_key=SECRET_KEY,
            card_webhook_secret=WEBHOOK_SECRET,
            sms_auth_token="sms-token",
            sandbox_webhook_repeats=REPEATS,
            sandbox_webhook_repeat_delay_seconds=0.05,
        )
        client = CardClient(f"{base_url}/sandbox/card", SECRET_KEY, http=http)
        try:
            yield Harness(base_url, client, http, receiver)
        finally:
            # Let the sandbox finish its repeat deliveries while someone is still listening.
            _wait_for(lambda: not any(t.name == "sandbox-notifier" for t in threading.enumerate()))
    runtime.close()


def _create(
    harness: Harness, amount: int = 8800, *, key: str | None = None, reference: str | None = None
) -> CardIntent:
    return harness.client.create_intent(
        amount=Money(amount, "HKD"),
        reference=reference or "ord_" + uuid.uuid4().hex[:8],
        description="crossbay order",
        return_url=RETURN_URL,
        idempotency_key=key or uuid.uuid4().hex,
    )


def _approve(harness: Harness, intent: CardIntent) -> httpx.Response:
    return harness.http.post(f"{harness.base_url}/sandbox/pay/card/{intent.id}/approve")


class TestCreateIntent:
    def test_answers_a_redirect_to_the_cashier(self, harness: Harness) -> None:
        intent = harness.client.create_intent(
            amount=Money(8800, "HKD"),
            reference="ord_abc",
            description="crossbay order",
            return_url=RETURN_URL,
            idempotency_key=uuid.uuid4().hex,
        )

        assert intent.id.startswith("pi_")
        assert intent.status == "requires_action"
        assert intent.amount == Money(8800, "HKD")
        assert intent.metadata == {"reference": "ord_abc"}
        assert intent.redirect_url == f"{harness.base_url}/sandbox/pay/card/{intent.id}"
        assert harness.client.retrieve_intent(intent.id) == intent

    def test_wire_shape_is_stripes(self, harness: Harness) -> None:
        response = harness.http.post(
            f"{harness.base_url}/sandbox/card/v1/payment_intents",
            data={"amount": "1200", "currency": "hkd", "confirm": "true", "return_url": RETURN_URL},
            headers={"Authorization": f"Bearer {SECRET_KEY}"},
        )

        assert response.status_code == 200
        body = response.json()
        assert body["object"] == "payment_intent"
        assert (body["amount"], body["currency"], body["livemode"]) == (1200, "hkd", False)
        assert body["next_action"]["type"] == "redirect_to_url"
        assert body["next_action"]["redirect_to_url"]["return_url"] == RETURN_URL
        assert isinstance(body["created"], int)

    def test_same_key_and_params_replays_the_first_answer(self, harness: Harness) -> None:
        key = uuid.uuid4().hex
        first = _create(harness, key=key)
        params = {"amount": "8800", "currency": "hkd", "description": "crossbay order"}

        again = harness.client.create_intent(
            amount=Money(8800, "HKD"),
            reference=first.metadata["reference"],
            description="crossbay order",
            return_url=RETURN_URL,
            idempotency_key=key,
        )
        raw = harness.http.post(
            f"{harness.base_url}/sandbox/card/v1/payment_intents",
            data={
                **params,
                "metadata[reference]": first.metadata["reference"],
                "confirm": "true",
                "return_url": RETURN_URL,
                "payment_method_types[]": "card",
            },
            headers={"Authorization": f"Bearer {SECRET_KEY}", "Idempotency-Key": key},
        )

        assert again.id == first.id
        assert raw.json()["id"] == first.id
        assert raw.headers["Idempotent-Replayed"] == "true"

    def test_concurrent_requests_with_one_key_create_one_intent(self, harness: Harness) -> None:
        key = uuid.uuid4().hex
        with ThreadPoolExecutor(max_workers=6) as pool:
            intents = list(
                pool.map(lambda _: _create(harness, 4200, key=key, reference="ord_same"), range(6))
            )

        assert len({intent.id for intent in intents}) == 1

    def test_refused_params_do_not_use_up_the_key(self, harness: Harness) -> None:
        key = uuid.uuid4().hex
        refused = harness.http.post(
            f"{harness.base_url}/sandbox/card/v1/payment_intents",
            data={"amount": "abc", "currency": "hkd"},
            headers={"Authorization": f"Bearer {SECRET_KEY}", "Idempotency-Key": key},
        )

        assert refused.status_code == 400
        assert _create(harness, key=key).status == "requires_action"

    def test_same_key_with_other_params_is_refused(self, harness: Harness) -> None:
        key = uuid.uuid4().hex
        _create(harness, 8800, key=key)

        with pytest.raises(CardProviderError):
            _create(harness, 9900, key=key)

    @pytest.mark.parametrize(
        ("data", "code"),
        [
            ({"currency": "hkd"}, "parameter_missing"),
            ({"amount": "-5", "currency": "hkd"}, "parameter_invalid_integer"),
            ({"amount": "100", "currency": "hkd", "surprise": "1"}, "parameter_unknown"),
        ],
    )
    def test_invalid_params_are_refused_stripe_style(
        self, harness: Harness, data: dict[str, str], code: str
    ) -> None:
        response = harness.http.post(
            f"{harness.base_url}/sandbox/card/v1/payment_intents",
            data=data,
            headers={"Authorization": f"Bearer {SECRET_KEY}"},
        )

        assert response.status_code == 400
        assert response.json()["error"]["code"] == code
        assert response.json()["error"]["type"] == "invalid_request_error"

    def test_bad_secret_key_is_refused(self, harness: Harness) -> None:
        client = CardClient(f"{harness.base_url}/sandbox/card", "sk_test_wrong", http=harness.http)

        with pytest.raises(CardProviderError):
            client.create_intent(
                amount=Money(100, "HKD"),
                reference="ord_x",
                description="x",
                return_url=RETURN_URL,
                idempotency_key=uuid.uuid4().hex,
            )
        raw = harness.http.get(f"{harness.base_url}/sandbox/card/v1/payment_intents/pi_x")
        assert raw.status_code == 401
        assert raw.json()["error"]["type"] == "invalid_request_error"

    def test_unknown_intent(self, harness: Harness) -> None:
        with pytest.raises(CardProviderError) as caught:
            harness.client.retrieve_intent("pi_doesnotexist")

        assert caught.value.provider_code == "resource_missing"

    def test_unreachable_provider_is_retryable(self, harness: Harness) -> None:
        client = CardClient("http://127.0.0.1:9/sandbox/card", SECRET_KEY, http=harness.http, timeout=2)

        with pytest.raises(CardProviderUnavailable) as caught:
            client.retrieve_intent("pi_x")

        assert caught.value.retryable and caught.value.status == 503


class TestCashierPage:
    def test_shows_amount_card_and_buttons_in_traditional_chinese_by_default(self, harness: Harness) -> None:
        intent = _create(harness, 8800)
        assert intent.redirect_url is not None

        page = harness.http.get(intent.redirect_url)

        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert '<html lang="zh-Hant">' in page.text
        assert Money(8800, "HKD").format("zh-Hant") in page.text
        assert "crossbay sandbox" in page.text
        assert "4242 4242 4242 4242" in page.text
        assert f'action="/sandbox/pay/card/{intent.id}/approve"' in page.text
        assert f'action="/sandbox/pay/card/{intent.id}/decline"' in page.text
        assert 'name="viewport"' in page.text
        assert "http" not in page.text.split("<body>")[0]  # no outside assets

    @pytest.mark.parametrize(
        ("query", "accept", "language"),
        [("?lang=en", None, "en"), ("", "zh-CN,zh;q=0.9", "zh-Hans"), ("", "en-GB", "en")],
    )
    def test_language(self, harness: Harness, query: str, accept: str | None, language: str) -> None:
        intent = _create(harness, 12345)
        headers = {"Accept-Language": accept} if accept else {}

        page = harness.http.get(f"{intent.redirect_url}{query}", headers=headers)

        assert f'<html lang="{language}">' in page.text
        assert Money(12345, "HKD").format(language) in page.text

    def test_unknown_reference(self, harness: Harness) -> None:
        assert harness.http.get(f"{harness.base_url}/sandbox/pay/card/pi_nope").status_code == 404


class TestApproveAndDecline:
    def test_approve_delivers_a_signed_event_before_answering_and_repeats_it(self, harness: Harness) -> None:
        intent = _create(harness)

        answer = _approve(harness, intent)

        assert answer.status_code == 303
        location = urlsplit(answer.headers["location"])
        assert location.path == "/orders/ord_1"
        assert parse_qs(location.query) == {
            "from": ["card"],
            "payment_intent": [intent.id],
            "redirect_status": ["succeeded"],
        }
        assert harness.receiver.for_intent(intent.id), "the first delivery happens before the answer"
        _wait_for(lambda: len(harness.receiver.for_intent(intent.id)) >= 1 + REPEATS)
        deliveries = harness.receiver.for_intent(intent.id)
        assert len(deliveries) == 1 + REPEATS
        assert len({d.event.id for d in deliveries}) == 1
        assert len({d.body for d in deliveries}) == 1
        event = deliveries[0].event
        assert event.id.startswith("evt_") and event.type == "payment_intent.succeeded"
        paid = intent_from_object(event.object)
        assert (paid.status, paid.amount, paid.metadata) == ("succeeded", intent.amount, intent.metadata)
        assert harness.client.retrieve_intent(intent.id).status == "succeeded"

    def test_stripe_library_accepts_the_delivered_event(self, harness: Harness) -> None:
        intent = _create(harness)
        _approve(harness, intent)
        delivery = harness.receiver.for_intent(intent.id)[0]

        event = stripe.Webhook.construct_event(delivery.body, delivery.signature, WEBHOOK_SECRET)

        assert event["data"]["object"]["id"] == intent.id
        assert event["livemode"] is False and event["api_version"]

    def test_approving_a_final_intent_is_a_conflict(self, harness: Harness) -> None:
        intent = _create(harness)
        assert _approve(harness, intent).status_code == 303

        again = _approve(harness, intent)

        assert again.status_code == 409
        assert again.json()["error"]["code"] == "payment_intent_unexpected_state"

    def test_decline_sends_payment_failed_and_the_payer_may_retry(self, harness: Harness) -> None:
        intent = _create(harness)

        answer = harness.http.post(f"{harness.base_url}/sandbox/pay/card/{intent.id}/decline")

        assert answer.status_code == 303
        assert parse_qs(urlsplit(answer.headers["location"]).query)["redirect_status"] == ["failed"]
        failed = harness.receiver.for_intent(intent.id)[0].event
        assert failed.type == "payment_intent.payment_failed"
        assert failed.object["status"] == "requires_payment_method"
        assert failed.object["last_payment_error"]["code"] == "card_declined"
        assert "上次付款被拒絕" in harness.http.get(f"{intent.redirect_url}").text
        assert _approve(harness, intent).status_code == 303
        assert harness.client.retrieve_intent(intent.id).status == "succeeded"

    def test_without_return_url_the_answer_is_json(self, harness: Harness) -> None:
        created = harness.http.post(
            f"{harness.base_url}/sandbox/card/v1/payment_intents",
            data={"amount": "500", "currency": "hkd", "confirm": "true"},
            headers={"Authorization": f"Bearer {SECRET_KEY}"},
        ).json()

        answer = harness.http.post(f"{harness.base_url}/sandbox/pay/card/{created['id']}/approve")

        assert answer.status_code == 200
        assert answer.json() == {"status": "succeeded"}

    def test_a_refused_delivery_is_retried(self, harness: Harness) -> None:
        intent = _create(harness)
        with harness.receiver.lock:
            harness.receiver.fail_next = 1

        assert _approve(harness, intent).status_code == 303

        _wait_for(lambda: len(harness.receiver.for_intent(intent.id)) >= 1 + REPEATS)
        assert harness.receiver.fail_next == 0, "the first delivery was answered 503"
        assert {d.event.type for d in harness.receiver.for_intent(intent.id)} == {"payment_intent.succeeded"}

    def test_no_delivery_was_refused_by_our_verifier(self, harness: Harness) -> None:
        assert harness.receiver.refused == 0


class TestCancelAndRefund:
    def test_refund_query_finds_the_intents_full_refund(self, harness: Harness) -> None:
        intent = _create(harness, 8800)
        _approve(harness, intent)
        provider = CardProvider(harness.client, webhook_secret="whsec_unused", tolerance_seconds=300)
        assert provider.query_refund(reference=intent.id, refund_id="r1", amount=Money(8800, "HKD")) is None

        harness.client.refund(intent_id=intent.id, amount=Money(8800, "HKD"), idempotency_key="r1")
        notice = provider.query_refund(reference=intent.id, refund_id="r1", amount=Money(8800, "HKD"))

        assert notice is not None and (notice.kind, notice.outcome) == ("refund", "refunded")
        assert notice.reference == intent.id and notice.amount == Money(8800, "HKD")

    def test_refund_sends_charge_refunded(self, harness: Harness) -> None:
        intent = _create(harness, 8800)
        _approve(harness, intent)

        refund = harness.client.refund(
            intent_id=intent.id, amount=Money(3000, "HKD"), idempotency_key=uuid.uuid4().hex
        )

        assert refund.id.startswith("re_")
        assert (refund.status, refund.amount, refund.intent_id) == (
            "succeeded",
            Money(3000, "HKD"),
            intent.id,
        )
        charges = _wait_for(
            lambda: [
                d.event for d in harness.receiver.for_intent(intent.id) if d.event.type == "charge.refunded"
            ]
        )
        assert charges[0].object["amount_refunded"] == 3000
        assert charges[0].object["refunded"] is False

    def test_refund_is_idempotent_and_bounded(self, harness: Harness) -> None:
        intent = _create(harness, 8800)
        _approve(harness, intent)
        key = uuid.uuid4().hex

        first = harness.client.refund(intent_id=intent.id, amount=Money(8800, "HKD"), idempotency_key=key)
        again = harness.client.refund(intent_id=intent.id, amount=Money(8800, "HKD"), idempotency_key=key)

        assert again.id == first.id
        with pytest.raises(CardProviderError) as caught:
            harness.client.refund(
                intent_id=intent.id, amount=Money(1, "HKD"), idempotency_key=uuid.uuid4().hex
            )
        assert caught.value.provider_code == "charge_already_refunded"

    def test_refund_of_an_unpaid_intent_is_refused(self, harness: Harness) -> None:
        intent = _create(harness)

        with pytest.raises(CardProviderError) as caught:
            harness.client.refund(
                intent_id=intent.id, amount=Money(1, "HKD"), idempotency_key=uuid.uuid4().hex
            )

        assert caught.value.provider_code == "payment_intent_unexpected_state"

    def test_cancel(self, harness: Harness) -> None:
        intent = _create(harness)

        cancelled = harness.client.cancel_intent(intent.id)

        assert cancelled.status == "canceled"
        assert cancelled.redirect_url is None
        events = _wait_for(lambda: [d.event for d in harness.receiver.for_intent(intent.id)])
        assert events[0].type == "payment_intent.canceled"
        assert _approve(harness, intent).status_code == 409
        with pytest.raises(CardProviderError):
            harness.client.cancel_intent(intent.id)


def test_sandbox_paths_are_not_found_when_sandbox_mode_is_off(tmp_path: Path) -> None:
    app = FastAPI()
    install_problem_handlers(app)
    app.include_router(card_router)
    app.state.runtime = Runtime(
        settings=Settings(sandbox=False), engine=make_engine(f"sqlite:///{tmp_path}/x.db")
    )

    with serve_in_thread(app) as base_url, httpx.Client(base_url=base_url) as client:
        assert client.get("/sandbox/pay/card/pi_1").status_code == 404
        assert client.post("/sandbox/card/v1/payment_intents", data={"amount": "1"}).status_code == 404
    app.state.runtime.close()

"""Card webhook signatures: ours must be byte-for-byte what Stripe's own library makes and accepts."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from datetime import UTC, datetime, timedelta

import pytest
import stripe

from crossbay.payments.card import CardEvent, intent_from_object, sign_webhook, verify_webhook
from crossbay.payments.errors import WebhookMalformed, WebhookSignatureInvalid, WebhookTimestampStale

SECRET = "whsec_test_c2VjcmV0LWZvci10ZXN0cw=="
NOW = datetime(2026, 11, 26, 4, 0, tzinfo=UTC)
TS = int(NOW.timestamp())


def _event_body(**overrides: object) -> bytes:
    event: dict[str, object] = {
        "id": "evt_123",
        "object": "event",
        "api_version": "2024-06-20",
        "created": TS,
        "livemode": False,
        "type": "payment_intent.succeeded",
        "data": {
            "object": {
                "id": "pi_123",
                "object": "payment_intent",
                "amount": 8800,
                "currency": "hkd",
                "status": "succeeded",
                "metadata": {"reference": "ord_1"},
                "next_action": None,
            }
        },
    }
    event.update(overrides)
    return json.dumps(event).encode()


BODY = _event_body()


class TestRoundTrip:
    def test_verifies_what_it_signs(self) -> None:
        header = sign_webhook(BODY, SECRET, TS)

        event = verify_webhook(BODY, header, SECRET, now=NOW)

        assert event == CardEvent(
            id="evt_123",
            type="payment_intent.succeeded",
            created=TS,
            object=json.loads(BODY)["data"]["object"],
        )
        intent = intent_from_object(event.object)
        assert (intent.id, intent.status, intent.amount.amount, intent.amount.currency) == (
            "pi_123",
            "succeeded",
            8800,
            "HKD",
        )
        assert intent.metadata == {"reference": "ord_1"}

    def test_header_shape(self) -> None:
        header = sign_webhook(BODY, SECRET, TS)

        timestamp, v1 = header.split(",")
        assert timestamp == f"t={TS}"
        assert v1.startswith("v1=") and len(v1) == 3 + 64

    def test_non_ascii_body_round_trips(self) -> None:
        body = json.dumps(
            {"id": "evt_9", "object": "event", "type": "x", "created": TS, "data": {"object": {"d": "香港"}}},
            ensure_ascii=False,
        ).encode()

        assert verify_webhook(body, sign_webhook(body, SECRET, TS), SECRET, now=NOW).object == {"d": "香港"}


class TestWireCompatibilityWithStripe:
    def test_stripe_library_accepts_our_signature(self) -> None:
        now = int(time.time())  # the stripe library checks against the real clock
        header = sign_webhook(BODY, SECRET, now)

        event = stripe.Webhook.construct_event(BODY, header, SECRET)

        assert event["id"] == "evt_123"
        assert event["type"] == "payment_intent.succeeded"

    def test_we_accept_stripe_library_signature(self) -> None:
        header = stripe.WebhookSignature.generate_signature_header(BODY.decode(), SECRET, timestamp=TS)

        assert verify_webhook(BODY, header, SECRET, now=NOW).id == "evt_123"

    def test_matches_stripe_documented_scheme(self) -> None:
        # Stripe documents: HMAC-SHA256, keyed with the endpoint secret, over "<t>.<raw body>", hex.
        expected = hmac.new(SECRET.encode(), f"{TS}.".encode() + BODY, hashlib.sha256).hexdigest()

        assert sign_webhook(BODY, SECRET, TS) == f"t={TS},v1={expected}"

    def test_stripe_library_refuses_a_signature_with_another_secret(self) -> None:
        header = sign_webhook(BODY, "whsec_other", int(time.time()))

        with pytest.raises(stripe.SignatureVerificationError):
            stripe.Webhook.construct_event(BODY, header, SECRET)


class TestRefusals:
    def test_forged_signature(self) -> None:
        header = f"t={TS},v1={'0' * 64}"

        with pytest.raises(WebhookSignatureInvalid):
            verify_webhook(BODY, header, SECRET, now=NOW)

    def test_signed_with_another_secret(self) -> None:
        with pytest.raises(WebhookSignatureInvalid):
            verify_webhook(BODY, sign_webhook(BODY, "whsec_other", TS), SECRET, now=NOW)

    def test_stale_timestamp(self) -> None:
        old = TS - 301
        with pytest.raises(WebhookTimestampStale):
            verify_webhook(BODY, sign_webhook(BODY, SECRET, old), SECRET, now=NOW)

    def test_timestamp_at_the_edge_of_the_window_passes(self) -> None:
        header = sign_webhook(BODY, SECRET, TS - 300)

        assert verify_webhook(BODY, header, SECRET, now=NOW).id == "evt_123"

    def test_future_timestamp(self) -> None:
        future = int((NOW + timedelta(seconds=301)).timestamp())
        with pytest.raises(WebhookTimestampStale):
            verify_webhook(BODY, sign_webhook(BODY, SECRET, future), SECRET, now=NOW)

    def test_tolerance_is_configurable(self) -> None:
        header = sign_webhook(BODY, SECRET, TS - 60)
        with pytest.raises(WebhookTimestampStale):
            verify_webhook(BODY, header, SECRET, now=NOW, tolerance_seconds=30)

    @pytest.mark.parametrize("header", [None, ""])
    def test_missing_header(self, header: str | None) -> None:
        with pytest.raises(WebhookSignatureInvalid):
            verify_webhook(BODY, header, SECRET, now=NOW)

    @pytest.mark.parametrize(
        "header",
        ["garbage", f"t={TS}", "v1=" + "a" * 64, f"t=abc,v1={'a' * 64}", f"t={TS},v0={'a' * 64}"],
    )
    def test_unreadable_header(self, header: str) -> None:
        with pytest.raises(WebhookSignatureInvalid):
            verify_webhook(BODY, header, SECRET, now=NOW)

    def test_multiple_v1_with_one_good_passes(self) -> None:
        good = sign_webhook(BODY, SECRET, TS).split(",")[1]
        header = f"t={TS},v1={'f' * 64},{good},v0=ignored"

        assert verify_webhook(BODY, header, SECRET, now=NOW).id == "evt_123"

    def test_multiple_v1_all_bad(self) -> None:
        header = f"t={TS},v1={'f' * 64},v1={'e' * 64}"
        with pytest.raises(WebhookSignatureInvalid):
            verify_webhook(BODY, header, SECRET, now=NOW)

    def test_tampered_body(self) -> None:
        header = sign_webhook(BODY, SECRET, TS)
        tampered = BODY.replace(b"8800", b"1")

        with pytest.raises(WebhookSignatureInvalid):
            verify_webhook(tampered, header, SECRET, now=NOW)

    def test_timestamp_cannot_be_swapped(self) -> None:
        signature = sign_webhook(BODY, SECRET, TS).split(",")[1]
        with pytest.raises(WebhookSignatureInvalid):
            verify_webhook(BODY, f"t={TS + 1},{signature}", SECRET, now=NOW)


class TestMalformedEvents:
    @pytest.mark.parametrize(
        "body",
        [
            b"not json",
            b"[]",
            _event_body(object="charge"),
            _event_body(id=None),
            _event_body(type=""),
            _event_body(data={}),
            _event_body(data={"object": "pi_123"}),
        ],
    )
    def test_signed_but_not_an_event(self, body: bytes) -> None:
        with pytest.raises(WebhookMalformed):
            verify_webhook(body, sign_webhook(body, SECRET, TS), SECRET, now=NOW)

    def test_object_that_is_not_an_intent(self) -> None:
        with pytest.raises(WebhookMalformed):
            intent_from_object({"id": "ch_1", "object": "charge"})

    def test_redirect_url_is_read_from_next_action(self) -> None:
        intent = intent_from_object(
            {
                "id": "pi_1",
                "status": "requires_action",
                "amount": 100,
                "currency": "hkd",
                "next_action": {"type": "redirect_to_url", "redirect_to_url": {"url": "https://pay/x"}},
            }
        )

        assert intent.redirect_url == "https://pay/x"

"""Card payments through a Stripe-style provider: payment intents, refunds and signed webhooks.

Production points ``CardClient`` at the provider; the demo at ``crossbay.sandbox.card``,
which speaks the same wire protocol. Nothing here logs a payload, a header or a key.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import httpx

from crossbay.clock import hk_day_start, hk_end_of_day
from crossbay.money import Money
from crossbay.payments.errors import (
    CardProviderError,
    CardProviderUnavailable,
    WebhookMalformed,
    WebhookSignatureInvalid,
    WebhookTimestampStale,
)
from crossbay.payments.providers import (
    REFUND_PENDING,
    REFUND_SUCCEEDED,
    Acknowledgement,
    Checkout,
    CheckoutRequest,
    RefundResult,
)
from crossbay.payments.service import REFUND_FAILED_OUTCOME, REFUND_NOTICE, REFUNDED_OUTCOME, PaymentNotice
from crossbay.payments.statements import PAYMENT, REFUND, Statement, StatementLine, StatementUnreadable

SIGNATURE_HEADER = "Stripe-Signature"
_SCHEME = "v1"
_PAGE = 100  # the most balance transactions one list request may ask for
# Balance transaction types that are a payer's payment or its refund; the rest (payouts, fees) are not.
_STATEMENT_KINDS = {"charge": PAYMENT, "payment": PAYMENT, "refund": REFUND, "payment_refund": REFUND}


@dataclass(frozen=True)
class CardIntent:
    id: str
    status: str
    amount: Money
    redirect_url: str | None
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class CardRefund:
    id: str
    status: str
    amount: Money
    intent_id: str


def _refund_of(body: Any) -> CardRefund:
    try:
        return CardRefund(
            id=str(body["id"]),
            status=str(body["status"]),
            amount=Money(body["amount"], str(body["currency"]).upper()),
            intent_id=str(body["payment_intent"]),
        )
    except (KeyError, TypeError, ValueError) as error:
        raise CardProviderError("unexpected refund object from the card provider") from error


@dataclass(frozen=True)
class CardEvent:
    id: str
    type: str
    created: int
    # ``data.object`` as sent: a payment intent, or a charge for ``charge.refunded``.
    object: dict[str, Any]


def _parse_intent(obj: dict[str, Any]) -> CardIntent:
    """Read a payment intent object; ``ValueError`` if it is not one."""
    try:
        intent_id, status, amount, currency = obj["id"], obj["status"], obj["amount"], obj["currency"]
        if not (isinstance(intent_id, str) and isinstance(status, str) and isinstance(currency, str)):
            raise ValueError("payment intent fields have the wrong type")
        money = Money(amount, currency.upper())
        redirect_url: str | None = None
        next_action = obj.get("next_action")
        if isinstance(next_action, dict) and next_action.get("type") == "redirect_to_url":
            url = (next_action.get("redirect_to_url") or {}).get("url")
            redirect_url = url if isinstance(url, str) else None
        raw_metadata = obj.get("metadata") or {}
        metadata = {str(k): str(v) for k, v in raw_metadata.items()}
    except (KeyError, TypeError, AttributeError) as error:
        raise ValueError("not a payment intent object") from error
    return CardIntent(id=intent_id, status=status, amount=money, redirect_url=redirect_url, metadata=metadata)


def intent_from_object(obj: dict[str, Any]) -> CardIntent:
    """The payment intent carried by an event's ``data.object``."""
    try:
        return _parse_intent(obj)
    except ValueError as error:
        raise WebhookMalformed("event object is not a payment intent") from error


class CardClient:
    """Talks to the provider's REST API with form-encoded bodies, as Stripe's does."""

    def __init__(self, base_url: str, secret_key: str, *, http: httpx.Client, timeout: float = 10.0) -> None:
        self._base = base_url.rstrip("/")
        self._secret_key = secret_key
        self._http = http
        self._timeout = timeout

    def create_intent(
        self, *, amount: Money, reference: str, description: str, return_url: str, idempotency_key: str
    ) -> CardIntent:
        data = {
            "amount": str(amount.amount),
            "currency": amount.currency.lower(),
            "description": description,
            "metadata[reference]": reference,
            # Confirming at creation makes the provider answer with its cashier redirect at once.
            "confirm": "true",
            "return_url": return_url,
            "payment_method_types[]": "card",
        }
        body = self._call("POST", "/v1/payment_intents", data=data, idempotency_key=idempotency_key)
        return self._intent(body)

    def retrieve_intent(self, intent_id: str) -> CardIntent:
        return self._intent(self._call("GET", f"/v1/payment_intents/{_path_id(intent_id)}"))

    def cancel_intent(self, intent_id: str, *, idempotency_key: str | None = None) -> CardIntent:
        path = f"/v1/payment_intents/{_path_id(intent_id)}/cancel"
        return self._intent(self._call("POST", path, data={}, idempotency_key=idempotency_key))

    def refund(self, *, intent_id: str, amount: Money, idempotency_key: str) -> CardRefund:
        data = {"payment_intent": intent_id, "amount": str(amount.amount)}
        refund = _refund_of(self._call("POST", "/v1/refunds", data=data, idempotency_key=idempotency_key))
        if refund.amount != amount:
            raise CardProviderError("the card provider refunded a different amount than asked")
        return refund

    def refunds_of(self, intent_id: str) -> list[CardRefund]:
        """The payment intent's refunds, newest first."""
        body = self._call("GET", "/v1/refunds", params=[("payment_intent", intent_id)])
        data = body.get("data")
        if not isinstance(data, list):
            raise CardProviderError("unexpected refund list from the card provider")
        return [_refund_of(item) for item in data]

    def balance_transactions(self, *, created_gte: int, created_lt: int) -> list[dict[str, Any]]:
        """Every balance transaction created in [gte, lt) (unix seconds), page after page.

        Each ``source`` is expanded, so a charge or refund names its payment intent.
        """
        found: list[dict[str, Any]] = []
        after: str | None = None
        while True:
            params = [
                ("created[gte]", str(created_gte)),
                ("created[lt]", str(created_lt)),
                ("limit", str(_PAGE)),
                ("expand[]", "data.source"),
            ]
            if after is not None:
                params.append(("starting_after", after))
            page = self._call("GET", "/v1/balance_transactions", params=params)
            data, more = page.get("data"), page.get("has_more")
            if page.get("object") != "list" or not isinstance(data, list) or not isinstance(more, bool):
                raise StatementUnreadable("the card provider's balance transactions are not a list")
            items = [item for item in data if isinstance(item, dict)]
            if len(items) != len(data) or not all(isinstance(item.get("id"), str) for item in items):
                raise StatementUnreadable("a balance transaction is not an object with an id")
            found.extend(items)
            if not more or not items:
                return found
            after = str(items[-1]["id"])

    def _intent(self, body: dict[str, Any]) -> CardIntent:
        try:
            return _parse_intent(body)
        except ValueError as error:
            raise CardProviderError("unexpected payment intent object from the card provider") from error

    def _call(
        self,
        method: str,
        path: str,
        *,
        data: dict[str, str] | None = None,
        params: list[tuple[str, str]] | None = None,
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {self._secret_key}"}
        if idempotency_key is not None:
            headers["Idempotency-Key"] = idempotency_key
        try:
            response = self._http.request(
                method,
                self._base + path,
                data=data,
                params=tuple(params) if params else None,
                headers=headers,
                timeout=self._timeout,
            )
        except httpx.TimeoutException as error:
            raise CardProviderUnavailable("the card provider did not answer in time") from error
        except httpx.TransportError as error:
            raise CardProviderUnavailable("the card provider could not be reached") from error
        # 409 is a request racing another with the same idempotency key and 429 is rate
        # limiting: both succeed when tried again, unlike the other 4xx answers.
        if response.status_code >= 500 or response.status_code in (409, 429):
            raise CardProviderUnavailable(f"the card provider answered {response.status_code}")
        body = _json_object(response)
        if response.status_code >= 400:
            problem = body.get("error") if body is not None else None
            problem = problem if isinstance(problem, dict) else {}
            message, code = problem.get("message"), problem.get("code")
            raise CardProviderError(
                str(message)[:300] if message else f"the card provider answered {response.status_code}",
                provider_code=str(code) if code else None,
            )
        if body is None:
            raise CardProviderError("the card provider answered something that is not a JSON object")
        return body


def _json_object(response: httpx.Response) -> dict[str, Any] | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _path_id(value: str) -> str:
    # Ids come back from the provider, but a path segment must never be able to climb out.
    if not value or not all(c.isalnum() or c == "_" for c in value):
        raise CardProviderError("not a provider object id")
    return value


def sign_webhook(payload: bytes, secret: str, timestamp: int) -> str:
    """The ``Stripe-Signature`` value for ``payload`` sent at ``timestamp``."""
    return f"t={timestamp},{_SCHEME}={_signature(payload, secret, timestamp)}"


def _signature(payload: bytes, secret: str, timestamp: int) -> str:
    # Keyed with the whole secret, ``whsec_`` prefix included, exactly as Stripe does.
    signed = str(timestamp).encode() + b"." + payload
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def verify_webhook(
    payload: bytes, header: str | None, secret: str, *, now: datetime, tolerance_seconds: int = 300
) -> CardEvent:
    """Accept a notification only if one of its signatures is ours and it is recent; then read it."""
    if not header:
        raise WebhookSignatureInvalid("missing signature header")
    timestamp, signatures = _parse_signature_header(header)
    expected = _signature(payload, secret, timestamp).encode()
    # Checked against every v1 so a rotated secret's old and new signatures both work.
    matched = False
    for candidate in signatures:
        matched |= hmac.compare_digest(expected, candidate.encode())
    if not matched:
        raise WebhookSignatureInvalid("no signature matches")
    # A genuine but old (or far-future) message is a replay, not a new notification.
    if abs(int(now.timestamp()) - timestamp) > tolerance_seconds:
        raise WebhookTimestampStale("signature timestamp outside the tolerance window")
    return _parse_event(payload, timestamp)


def _parse_signature_header(header: str) -> tuple[int, list[str]]:
    timestamp: int | None = None
    signatures: list[str] = []
    for item in header.split(","):
        key, sep, value = item.strip().partition("=")
        if not sep:
            continue
        if key == "t":
            if not value.isdigit() or timestamp is not None:
                raise WebhookSignatureInvalid("unreadable signature timestamp")
            timestamp = int(value)
        elif key == _SCHEME and value:
            signatures.append(value)
    if timestamp is None or not signatures:
        raise WebhookSignatureInvalid("signature header lacks a timestamp or a v1 signature")
    return timestamp, signatures


def _parse_event(payload: bytes, timestamp: int) -> CardEvent:
    try:
        body = json.loads(payload)
    except (UnicodeDecodeError, ValueError) as error:
        raise WebhookMalformed("event body is not JSON") from error
    if not isinstance(body, dict) or body.get("object") != "event":
        raise WebhookMalformed("body is not an event")
    event_id, event_type, data = body.get("id"), body.get("type"), body.get("data")
    obj = data.get("object") if isinstance(data, dict) else None
    if not isinstance(event_id, str) or not event_id or not isinstance(event_type, str) or not event_type:
        raise WebhookMalformed("event lacks an id or a type")
    if not isinstance(obj, dict):
        raise WebhookMalformed("event lacks data.object")
    created = body.get("created")
    if not isinstance(created, int) or isinstance(created, bool):
        created = timestamp
    return CardEvent(id=event_id, type=event_type, created=created, object=obj)


# Notification types that change a payment, and what they mean for it.
_OUTCOMES = {
    "payment_intent.succeeded": "succeeded",
    "payment_intent.payment_failed": "failed",
    "payment_intent.canceled": "canceled",
}
# charge.refunded carries the charge (amount_refunded so far); refund.failed the refund itself.
_REFUND_OUTCOMES = {"charge.refunded": REFUNDED_OUTCOME, "refund.failed": REFUND_FAILED_OUTCOME}


def _refund_notice(provider: str, event: CardEvent) -> PaymentNotice | None:
    """A full refund confirmed or failed; partial refunds are not ours (we refund whole payments only)."""
    obj = event.object
    intent_id, currency = obj.get("payment_intent"), obj.get("currency")
    if not (isinstance(intent_id, str) and isinstance(currency, str)):
        raise WebhookMalformed("refund event lacks its payment intent or currency")
    amount = obj.get("amount_refunded" if event.type == "charge.refunded" else "amount")
    if not (isinstance(amount, int) and not isinstance(amount, bool) and amount > 0):
        raise WebhookMalformed(f"{event.type} lacks its refunded amount")
    if event.type == "charge.refunded" and amount != obj.get("amount"):
        return None
    return PaymentNotice(
        provider=provider,
        event_id=event.id,
        kind=REFUND_NOTICE,
        reference=intent_id,
        amount=Money(amount, currency.upper()),
        outcome=_REFUND_OUTCOMES[event.type],
    )


class CardProvider:
    """The card provider behind the PaymentProvider protocol."""

    name = "card"

    def __init__(self, client: CardClient, *, webhook_secret: str, tolerance_seconds: int) -> None:
        self.client = client
        self.webhook_secret = webhook_secret
        self.tolerance_seconds = tolerance_seconds

    def open_checkout(self, request: CheckoutRequest) -> Checkout:
        intent = self.client.create_intent(
            amount=request.amount,
            reference=request.payment_id,
            description=request.description,
            return_url=request.return_url,
            idempotency_key=request.payment_id,
        )
        if intent.redirect_url is None:
            raise CardProviderError("the provider gave no cashier address")
        return Checkout(reference=intent.id, redirect_url=intent.redirect_url)

    def close(self, *, reference: str, payment_id: str) -> None:
        self.client.cancel_intent(reference, idempotency_key=f"cancel-{payment_id}")

    def refund(self, *, reference: str, refund_id: str, amount: Money) -> RefundResult:
        refund = self.client.refund(intent_id=reference, amount=amount, idempotency_key=refund_id)
        if refund.status == "succeeded":
            return REFUND_SUCCEEDED
        if refund.status in ("pending", "requires_action"):
            return REFUND_PENDING  # confirmed later by charge.refunded, or refused by refund.failed
        raise CardProviderError("the card provider did not take the refund", provider_code=refund.status)

    def query_refund(self, *, reference: str, refund_id: str, amount: Money) -> PaymentNotice | None:
        refunds = self.client.refunds_of(reference)
        if any(refund.status == "succeeded" and refund.amount == amount for refund in refunds):
            outcome = REFUNDED_OUTCOME
        elif refunds and refunds[0].status in ("failed", "canceled"):
            outcome = REFUND_FAILED_OUTCOME
        else:
            return None  # pending, or not there yet
        return PaymentNotice(
            provider=self.name,
            event_id=f"refund-query:{refund_id}:{outcome}",
            kind=REFUND_NOTICE,
            reference=reference,
            amount=amount,
            outcome=outcome,
        )

    def query(self, *, reference: str, payment_id: str) -> PaymentNotice | None:
        intent = self.client.retrieve_intent(reference)
        outcome = {"succeeded": "succeeded", "canceled": "canceled"}.get(intent.status)
        if outcome is None:
            return None
        # One stable id per final state: a later real notification is then a harmless repeat of its effect.
        return PaymentNotice(
            provider=self.name,
            event_id=f"query:{intent.id}:{intent.status}",
            kind="query",
            reference=intent.id,
            amount=intent.amount,
            outcome=outcome,
        )

    def read_notification(
        self, headers: Mapping[str, str], body: bytes, *, now: datetime
    ) -> PaymentNotice | None:
        event = verify_webhook(
            body,
            headers.get(SIGNATURE_HEADER),
            self.webhook_secret,
            now=now,
            tolerance_seconds=self.tolerance_seconds,
        )
        if event.type in _REFUND_OUTCOMES:
            return _refund_notice(self.name, event)
        outcome = _OUTCOMES.get(event.type)
        if outcome is None:
            return None  # other events: acknowledged, nothing to apply
        intent = intent_from_object(event.object)
        return PaymentNotice(
            provider=self.name,
            event_id=event.id,
            kind=event.type,
            reference=intent.id,
            amount=intent.amount,
            outcome=outcome,
        )

    def acknowledgement(self) -> Acknowledgement:
        return Acknowledgement(200, b'{"received":true}', "application/json")

    def download_statement(self, day: date) -> Statement:
        """The balance transactions of the Hong Kong day ``day``: charges and refunds, by payment intent."""
        start = hk_day_start(hk_end_of_day(day))
        items = self.client.balance_transactions(
            created_gte=int(start.timestamp()), created_lt=int(hk_end_of_day(day).timestamp()) + 1
        )
        lines = [line for line in map(statement_line, items) if line is not None]
        return Statement(provider=self.name, day=day, lines=tuple(lines))


def statement_line(item: dict[str, Any]) -> StatementLine | None:
    """A balance transaction as a statement line; None for types that are not payments or refunds."""
    kind = _STATEMENT_KINDS.get(str(item.get("type")))
    if kind is None:
        return None
    amount, currency, source = item.get("amount"), item.get("currency"), item.get("source")
    if not isinstance(source, dict):
        raise StatementUnreadable("a balance transaction's source was not expanded")
    intent, source_id, created = source.get("payment_intent"), source.get("id"), item.get("created")
    if not (
        isinstance(amount, int)
        and not isinstance(amount, bool)
        and isinstance(currency, str)
        and isinstance(intent, str)
        and isinstance(source_id, str)
        and isinstance(created, int)
    ):
        raise StatementUnreadable("a balance transaction lacks amount, currency, time or payment intent")
    try:
        money = Money(abs(amount), currency.upper())
    except ValueError as error:
        raise StatementUnreadable("a balance transaction's currency is not ISO") from error
    return StatementLine(
        kind=kind,
        reference=intent,
        amount=money,
        provider_id=source_id,
        refund_no=source_id if kind == REFUND else None,
        at=datetime.fromtimestamp(created, UTC),
    )

"""WeChat Pay API v3: signed requests, verified answers and notifications, encrypted resources.

Production points ``WechatPayClient`` at WeChat Pay; the demo at ``crossbay.sandbox.wechatpay``,
which speaks the same wire protocol with its own platform key. Nothing here logs a body, a
header, a key or a payer id.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import httpx

from crossbay.clock import Clock, SystemClock
from crossbay.errors import CrossbayError
from crossbay.money import Money
from crossbay.payments.errors import (
    NotificationInvalid,
    ProviderRefused,
    ProviderUnavailable,
    WebhookMalformed,
)
from crossbay.payments.providers import (
    REFUND_PENDING,
    REFUND_SUCCEEDED,
    Acknowledgement,
    Checkout,
    CheckoutRequest,
    RefundResult,
)
from crossbay.payments.service import (
    CANCELED_OUTCOME,
    REFUND_FAILED_OUTCOME,
    REFUND_NOTICE,
    REFUNDED_OUTCOME,
    SUCCEEDED_OUTCOME,
    PaymentNotice,
)
from crossbay.payments.statements import Statement, StatementUnreadable
from crossbay.payments.wechatpay_crypto import (
    TOLERANCE_SECONDS,
    ResourceUnreadable,
    aead_key_checked,
    authorization,
    decrypt_resource,
    load_private_key,
    load_public_key,
    new_nonce,
    verify_signature,
)
from crossbay.payments.wechatpay_statement import NO_STATEMENT, digest_matches, read_bill

# A refund that ends ABNORMAL (the payer's account closed) or CLOSED did not return the money.
_REFUND_OUTCOMES = {
    "REFUND.SUCCESS": REFUNDED_OUTCOME,
    "REFUND.ABNORMAL": REFUND_FAILED_OUTCOME,
    "REFUND.CLOSED": REFUND_FAILED_OUTCOME,
}
# WeChat Pay's own rule for merchant order and refund numbers.
OUT_TRADE_NO = re.compile(r"[0-9A-Za-z_\-|*]{6,32}")
OUT_REFUND_NO = re.compile(r"[0-9A-Za-z_\-|*@]{1,64}")


class WechatPayError(ProviderRefused):
    """WeChat Pay refused; ``provider_code`` is its ``code`` (``ORDERPAID``, ``INVALID_REQUEST``, …)."""


class WechatPayUnavailable(ProviderUnavailable):
    """WeChat Pay could not answer (5xx, rate limit, timeout, connection): try again later."""


class WechatPayAnswerUnverified(WechatPayError):
    """An answer that WeChat Pay's key did not sign is not WeChat Pay's answer."""


# --- the API client ----------------------------------------------------------------------------


@dataclass(frozen=True)
class WechatPayTransaction:
    out_trade_no: str
    trade_state: str  # SUCCESS, REFUND, NOTPAY, CLOSED, REVOKED, USERPAYING, PAYERROR
    amount: Money
    transaction_id: str | None
    success_time: str | None


@dataclass(frozen=True)
class WechatPayRefund:
    refund_id: str
    out_refund_no: str
    out_trade_no: str
    status: str  # SUCCESS, PROCESSING, CLOSED, ABNORMAL
    amount: Money


def _money(amount: Any, field: str = "total") -> Money:
    """``{"total": <int minor units>, "currency": "HKD"}`` → Money; ``ValueError`` otherwise."""
    if not isinstance(amount, dict):
        raise ValueError("amount is not an object")
    value, currency = amount.get(field), amount.get("currency")
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise ValueError("amount is not a positive integer of minor units")
    if not (isinstance(currency, str) and len(currency) == 3 and currency.isascii() and currency.isupper()):
        raise ValueError("not an ISO currency")
    return Money(value, currency)


def _refund_of(body: dict[str, Any]) -> WechatPayRefund:
    try:
        return WechatPayRefund(
            refund_id=str(body["refund_id"]),
            out_refund_no=str(body["out_refund_no"]),
            out_trade_no=str(body["out_trade_no"]),
            status=str(body["status"]),
            amount=_money(body.get("amount"), "refund"),
        )
    except (KeyError, ValueError) as error:
        raise WechatPayError("unexpected refund from WeChat Pay") from error


def _checked(value: str, pattern: re.Pattern[str], what: str) -> str:
    if not pattern.fullmatch(value):
        raise WechatPayError(f"not a valid {what}")
    return value


class WechatPayClient:
    """Talks to WeChat Pay's v3 REST API: JSON bodies, every request signed, every answer verified."""

    def __init__(
        self,
        api_url: str,
        mchid: str,
        appid: str,
        serial_no: str,
        private_key_pem: str,
        platform_public_key_pem: str,
        platform_public_key_id: str,
        *,
        http: httpx.Client,
        clock: Clock | None = None,
        timeout: float = 10.0,
        tolerance_seconds: int = TOLERANCE_SECONDS,
    ) -> None:
        self._base = api_url.rstrip("/")
        self.mchid, self.appid, self._serial_no = mchid, appid, serial_no
        self._key = load_private_key(private_key_pem)
        self.platform_key = load_public_key(platform_public_key_pem)
        self.platform_key_id = platform_public_key_id
        self._http, self._clock = http, clock or SystemClock()
        self._timeout, self._tolerance = timeout, tolerance_seconds

    def native(self, out_trade_no: str, amount: Money, description: str, notify_url: str) -> str:
        """Create a Native (QR) payment; answers the ``code_url`` to show as a QR code."""
        body = self._call(
            "POST", "/v3/pay/transactions/native", self._order(out_trade_no, amount, description, notify_url)
        )
        return _text(body, "code_url")

    def h5(self, out_trade_no: str, amount: Money, description: str, notify_url: str, client_ip: str) -> str:
        """Create an H5 payment (phone browser outside WeChat); answers the ``h5_url`` for the payer."""
        payload = self._order(out_trade_no, amount, description, notify_url)
        payload["scene_info"] = {"payer_client_ip": client_ip, "h5_info": {"type": "Wap"}}
        return _text(self._call("POST", "/v3/pay/transactions/h5", payload), "h5_url")

    def query(self, out_trade_no: str) -> WechatPayTransaction:
        no = quote(_checked(out_trade_no, OUT_TRADE_NO, "out_trade_no"), safe="")
        body = self._call("GET", f"/v3/pay/transactions/out-trade-no/{no}", query={"mchid": self.mchid})
        if body.get("mchid") != self.mchid or body.get("appid") != self.appid:
            raise WechatPayError("WeChat Pay answered about another merchant's order")
        try:
            return WechatPayTransaction(
                out_trade_no=str(body["out_trade_no"]),
                trade_state=str(body["trade_state"]),
                amount=_money(body.get("amount")),
                transaction_id=body.get("transaction_id") or None,
                success_time=body.get("success_time") or None,
            )
        except (KeyError, ValueError) as error:
            raise WechatPayError("unexpected transaction from WeChat Pay") from error

    def close(self, out_trade_no: str) -> None:
        no = quote(_checked(out_trade_no, OUT_TRADE_NO, "out_trade_no"), safe="")
        self._call("POST", f"/v3/pay/transactions/out-trade-no/{no}/close", {"mchid": self.mchid})

    def refund(
        self,
        out_trade_no: str,
        out_refund_no: str,
        refund: Money,
        total: Money,
        *,
        reason: str | None = None,
        notify_url: str | None = None,
    ) -> WechatPayRefund:
        """Refund ``refund`` of a ``total`` payment; WeChat Pay refunds once per ``out_refund_no``."""
        if refund.currency != total.currency:
            raise WechatPayError("refund and total are in different currencies")
        payload: dict[str, Any] = {
            "out_trade_no": _checked(out_trade_no, OUT_TRADE_NO, "out_trade_no"),
            "out_refund_no": _checked(out_refund_no, OUT_REFUND_NO, "out_refund_no"),
            "amount": {"refund": refund.amount, "total": total.amount, "currency": total.currency},
        }
        if reason:
            payload["reason"] = reason[:80]
        if notify_url:
            payload["notify_url"] = notify_url
        result = _refund_of(self._call("POST", "/v3/refund/domestic/refunds", payload))
        if result.amount != refund or result.out_refund_no != out_refund_no:
            raise WechatPayError("WeChat Pay answered about a different refund")
        if result.status not in ("SUCCESS", "PROCESSING"):
            raise WechatPayError("WeChat Pay did not take the refund", provider_code=result.status)
        return result

    def query_refund(self, out_refund_no: str) -> WechatPayRefund:
        no = quote(_checked(out_refund_no, OUT_REFUND_NO, "out_refund_no"), safe="")
        return _refund_of(self._call("GET", f"/v3/refund/domestic/refunds/{no}"))

    def _order(self, out_trade_no: str, amount: Money, description: str, notify_url: str) -> dict[str, Any]:
        return {
            "appid": self.appid,
            "mchid": self.mchid,
            "description": description[:127] or out_trade_no,
            "out_trade_no": _checked(out_trade_no, OUT_TRADE_NO, "out_trade_no"),
            "notify_url": notify_url,
            "amount": {"total": amount.amount, "currency": amount.currency},
        }

    def _call(
        self,
        method: str,
        path: str,
        payload: dict[str, Any] | None = None,
        *,
        query: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        url = self._base + path + (f"?{urlencode(query)}" if query else "")
        body = (
            b""
            if payload is None
            else json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
        )
        response = self._send(method, url, body, json_body=payload is not None)
        try:
            verify_signature(
                response.headers,
                response.content,
                public_key=self.platform_key,
                public_key_id=self.platform_key_id,
                now=self._clock.now(),
                tolerance_seconds=self._tolerance,
            )
        except CrossbayError as error:
            raise WechatPayAnswerUnverified("WeChat Pay's answer is not signed by its key") from error
        if response.status_code == 204:
            return {}
        answer = _json_object(response.content)
        if answer is None:
            raise WechatPayError("WeChat Pay answered something that is not a JSON object")
        return answer

    def _send(self, method: str, url: str, body: bytes, *, json_body: bool) -> httpx.Response:
        """Send a request signed with the merchant key; refusals and outages raise, the rest is returned."""
        parts = urlsplit(url)
        signed_url = parts.path + (f"?{parts.query}" if parts.query else "")
        timestamp, nonce = int(self._clock.now().timestamp()), new_nonce()
        headers = {
            "Authorization": authorization(
                mchid=self.mchid,
                serial_no=self._serial_no,
                key=self._key,
                method=method,
                url=signed_url,
                body=body,
                timestamp=timestamp,
                nonce=nonce,
            ),
            "Accept": "application/json",
            "Wechatpay-Serial": self.platform_key_id,
        }
        if json_body:
            headers["Content-Type"] = "application/json"
        try:
            response = self._http.request(
                method, url, content=body or None, headers=headers, timeout=self._timeout
            )
        except httpx.TimeoutException as error:
            raise WechatPayUnavailable("WeChat Pay did not answer in time") from error
        except httpx.TransportError as error:
            raise WechatPayUnavailable("WeChat Pay could not be reached") from error
        # 429 is FREQUENCY_LIMITED: it succeeds when tried again later, unlike the other 4xx answers.
        if response.status_code >= 500 or response.status_code == 429:
            raise WechatPayUnavailable(f"WeChat Pay answered {response.status_code}")
        if response.status_code >= 400:
            problem = _json_object(response.content) or {}
            code, message = problem.get("code"), problem.get("message")
            raise WechatPayError(
                str(message)[:300] if message else f"WeChat Pay answered {response.status_code}",
                provider_code=str(code) if code else None,
            )
        return response

    def trade_bill(self, day: date) -> bytes | None:
        """The trade bill (``bill_type=ALL``) of ``day`` in China time, checked against its hash.

        None for a day without a single trade, for which WeChat Pay keeps no bill.
        """
        try:
            answer = self._call(
                "GET", "/v3/bill/tradebill", query={"bill_date": day.isoformat(), "bill_type": "ALL"}
            )
        except WechatPayError as error:
            if error.provider_code == NO_STATEMENT:
                return None
            raise
        url, hash_type, hash_value = (answer.get(k) for k in ("download_url", "hash_type", "hash_value"))
        if not (isinstance(url, str) and isinstance(hash_type, str) and isinstance(hash_value, str)):
            raise WechatPayError("WeChat Pay's bill answer lacks download_url or its hash")
        # The download is signed with our key: it must never be sent anywhere but WeChat Pay itself.
        ours, theirs = urlsplit(self._base), urlsplit(url)
        if (theirs.scheme, theirs.netloc) != (ours.scheme, ours.netloc):
            raise WechatPayError("WeChat Pay's bill address is not on its API host")
        # The file itself is not signed; the hash from the signed answer vouches for it.
        content = self._send("GET", url, b"", json_body=False).content
        if not digest_matches(content, hash_type, hash_value):
            raise StatementUnreadable("the WeChat Pay bill does not match its hash")
        return content


def _json_object(content: bytes) -> dict[str, Any] | None:
    try:
        value = json.loads(content)
    except (UnicodeDecodeError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def _text(body: dict[str, Any], name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value.startswith(("https://", "http://", "weixin://")):
        raise WechatPayError(f"WeChat Pay gave no {name}")
    return value


# --- the provider behind the PaymentProvider protocol ------------------------------------------


class WechatPayProvider:
    """WeChat Pay H5 payments: the payer's phone browser goes to WeChat Pay and comes back."""

    name = "wechatpay"

    def __init__(
        self,
        client: WechatPayClient,
        *,
        apiv3_key: str,
        tolerance_seconds: int = TOLERANCE_SECONDS,
        payer_client_ip: str = "127.0.0.1",
        currencies: Collection[str] = ("HKD", "CNY", "MOP"),
        refund_notify_url: str | None = None,
    ) -> None:
        aead_key_checked(apiv3_key)  # a wrong-sized key fails at start, not at the first notification
        self.client = client
        self.apiv3_key = apiv3_key
        self.tolerance_seconds = tolerance_seconds
        # CheckoutRequest carries no payer IP yet; H5 requires one, so this stands in for it.
        self.payer_client_ip = payer_client_ip
        self.currencies = frozenset(currencies)
        # Where WeChat Pay sends REFUND.* notifications; without one a PROCESSING refund is never confirmed.
        self.refund_notify_url = refund_notify_url

    def open_checkout(self, request: CheckoutRequest) -> Checkout:
        client_ip = getattr(request, "client_ip", None) or self.payer_client_ip
        h5_url = self.client.h5(
            request.payment_id, request.amount, request.description, request.notify_url, client_ip
        )
        # WeChat's H5 page sends the payer back to ``redirect_url`` when appended to the h5_url.
        separator = "&" if urlsplit(h5_url).query else "?"
        redirect = f"{h5_url}{separator}redirect_url={quote(request.return_url, safe='')}"
        return Checkout(reference=request.payment_id, redirect_url=redirect)

    def close(self, *, reference: str, payment_id: str) -> None:
        self.client.close(reference)

    def refund(self, *, reference: str, refund_id: str, amount: Money) -> RefundResult:
        result = self.client.refund(reference, refund_id, amount, amount, notify_url=self.refund_notify_url)
        # PROCESSING is WeChat Pay's usual answer: REFUND.SUCCESS or REFUND.ABNORMAL follows.
        return REFUND_SUCCEEDED if result.status == "SUCCESS" else REFUND_PENDING

    def query_refund(self, *, reference: str, refund_id: str, amount: Money) -> PaymentNotice | None:
        refund = self.client.query_refund(refund_id)
        outcome = _REFUND_OUTCOMES.get(f"REFUND.{refund.status}")
        if outcome is None:
            return None  # PROCESSING
        if refund.out_trade_no != reference:
            raise WechatPayError("WeChat Pay answered about another payment's refund")
        return PaymentNotice(
            provider=self.name,
            event_id=f"refund-query:{refund_id}:{refund.status}",
            kind=REFUND_NOTICE,
            reference=reference,
            amount=refund.amount,
            outcome=outcome,
        )

    def query(self, *, reference: str, payment_id: str) -> PaymentNotice | None:
        transaction = self.client.query(reference)
        outcome = {"SUCCESS": "succeeded", "CLOSED": "canceled", "REVOKED": "canceled"}.get(
            transaction.trade_state
        )
        if outcome is None:
            return None  # NOTPAY, USERPAYING: not decided yet
        # One stable id per final state: the real notification, if it comes, changes nothing more.
        return PaymentNotice(
            provider=self.name,
            event_id=f"query:{reference}:{transaction.trade_state}",
            kind="query",
            reference=reference,
            amount=transaction.amount,
            outcome=outcome,
        )

    def read_notification(
        self, headers: Mapping[str, str], body: bytes, *, now: datetime
    ) -> PaymentNotice | None:
        verify_signature(
            headers,
            body,
            public_key=self.client.platform_key,
            public_key_id=self.client.platform_key_id,
            now=now,
            tolerance_seconds=self.tolerance_seconds,
        )
        envelope = _json_object(body)
        if envelope is None:
            raise WebhookMalformed("notification body is not a JSON object")
        event_id, event_type, resource = (
            envelope.get("id"),
            envelope.get("event_type"),
            envelope.get("resource"),
        )
        if not (isinstance(event_id, str) and event_id and isinstance(event_type, str)):
            raise WebhookMalformed("notification lacks an id or an event type")
        kind = event_type.partition(".")[0]
        if kind not in ("TRANSACTION", "REFUND"):
            return None  # other products' events: acknowledged, nothing to apply
        if envelope.get("resource_type") != "encrypt-resource" or not isinstance(resource, dict):
            raise WebhookMalformed("notification lacks an encrypted resource")
        try:
            plain = _json_object(decrypt_resource(self.apiv3_key, resource))
        except ResourceUnreadable as error:
            raise NotificationInvalid(str(error)) from error
        if plain is None:
            raise NotificationInvalid("resource is not a JSON object")
        if plain.get("mchid") != self.client.mchid:
            raise NotificationInvalid("notification for another merchant")
        if kind == "REFUND":
            return self._refund_notice(event_id, event_type, plain)
        if plain.get("appid") != self.client.appid:
            raise NotificationInvalid("notification for another app")
        trade_state, out_trade_no = plain.get("trade_state"), plain.get("out_trade_no")
        if event_type == "TRANSACTION.SUCCESS" and trade_state == "SUCCESS":
            outcome = SUCCEEDED_OUTCOME
        elif trade_state == "CLOSED":
            outcome = CANCELED_OUTCOME
        else:
            return None
        if not (isinstance(out_trade_no, str) and OUT_TRADE_NO.fullmatch(out_trade_no)):
            raise NotificationInvalid("resource lacks out_trade_no")
        try:
            amount = _money(plain.get("amount"))
        except ValueError as error:
            raise NotificationInvalid("resource amount is not readable") from error
        if amount.currency not in self.currencies:
            raise NotificationInvalid("resource currency is not one we charge in")
        return PaymentNotice(
            provider=self.name,
            event_id=event_id,
            kind=event_type,
            reference=out_trade_no,
            amount=amount,
            outcome=outcome,
        )

    def _refund_notice(self, event_id: str, event_type: str, plain: dict[str, Any]) -> PaymentNotice | None:
        outcome = _REFUND_OUTCOMES.get(event_type)
        out_trade_no = plain.get("out_trade_no")
        if outcome is None:
            return None
        if not isinstance(out_trade_no, str):
            raise NotificationInvalid("refund notification lacks out_trade_no")
        try:
            refunded, total = _money(plain.get("amount"), "refund"), _money(plain.get("amount"), "total")
        except ValueError as error:
            raise NotificationInvalid(f"refund notification amount: {error}") from error
        if refunded != total:
            return None  # a partial refund is not one of ours: we refund whole payments only
        return PaymentNotice(
            provider=self.name,
            event_id=event_id,
            kind=REFUND_NOTICE,
            reference=out_trade_no,
            amount=refunded,
            outcome=outcome,
        )

    def acknowledgement(self) -> Acknowledgement:
        return Acknowledgement(204, b"", "text/plain")

    def download_statement(self, day: date) -> Statement:
        """WeChat Pay's trade bill of ``day``: its payments and refunds."""
        content = self.client.trade_bill(day)
        lines = read_bill(content) if content is not None else []
        return Statement(provider=self.name, day=day, lines=tuple(lines))

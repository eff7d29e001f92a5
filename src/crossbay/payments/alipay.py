"""Alipay OpenAPI v2 with RSA2: signed gateway calls, the wap cashier redirect, verified notifications.

Production points ``AlipayClient`` at Alipay's gateway; the demo at ``crossbay.sandbox.alipay``,
which speaks the same wire protocol (``alipay_wire``). Nothing here logs a parameter, a
signature or a key.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode

import httpx

from crossbay.clock import Clock, SystemClock
from crossbay.money import Money, money_from_decimal_string
from crossbay.payments.alipay_statement import BILL_DOWNLOAD_URL_QUERY, BILL_NOT_EXIST, read_bill
from crossbay.payments.alipay_wire import (
    CLOSE,
    NOTIFICATION_MAX_AGE,
    PRECREATE,
    QUERY,
    REFUND,
    REFUND_QUERY,
    SIGN_TYPE,
    WAP_PAY,
    AlipayProviderError,
    AlipayProviderUnavailable,
    AlipayResponseUnverified,
    alipay_time,
    compact_json,
    format_amount,
    parse_alipay_time,
    read_response,
    request_signing_string,
    rsa2_sign,
    verify_signed_params,
)
from crossbay.payments.errors import (
    NotificationInvalid,
    WebhookMalformed,
    WebhookSignatureInvalid,
    WebhookTimestampStale,
)
from crossbay.payments.providers import (
    REFUND_SUCCEEDED,
    Acknowledgement,
    Checkout,
    CheckoutRequest,
    RefundResult,
)
from crossbay.payments.service import REFUND_NOTICE, REFUNDED_OUTCOME, PaymentNotice
from crossbay.payments.statements import Statement

_SUBJECT_UNSAFE = re.compile(r"[/=&]")

__all__ = [
    "AlipayClient",
    "AlipayNotificationInvalid",
    "AlipayProvider",
    "AlipayProviderError",
    "AlipayProviderUnavailable",
    "AlipayResponseUnverified",
]


class AlipayNotificationInvalid(NotificationInvalid):
    """Signed by Alipay, but not for this merchant, or not a trade notification we know."""


class AlipayClient:
    """Signs requests with the merchant key and believes only answers signed with Alipay's."""

    def __init__(
        self,
        gateway_url: str,
        app_id: str,
        private_key_pem: str,
        alipay_public_key_pem: str,
        *,
        http: httpx.Client,
        timeout: float = 10.0,
        clock: Clock | None = None,
    ) -> None:
        self.gateway_url = gateway_url
        self.app_id = app_id
        self._private_key_pem = private_key_pem
        self.alipay_public_key_pem = alipay_public_key_pem
        self._http = http
        self._timeout = timeout
        self._clock = clock or SystemClock()

    def now(self) -> datetime:
        return self._clock.now()

    def signed_params(self, method: str, biz: Mapping[str, Any], **common: str | None) -> dict[str, str]:
        """The common parameters, ``biz_content`` and ``sign``; empty values are left out, not signed."""
        params = {
            "app_id": self.app_id,
            "method": method,
            "format": "JSON",
            "charset": "utf-8",
            "sign_type": SIGN_TYPE,
            "timestamp": alipay_time(self.now()),
            "version": "1.0",
            "biz_content": compact_json(biz),
            **{k: v for k, v in common.items() if v},
        }
        params["sign"] = rsa2_sign(request_signing_string(params), self._private_key_pem)
        return params

    def wap_pay_url(
        self,
        out_trade_no: str,
        amount: Money,
        subject: str,
        return_url: str,
        notify_url: str,
        *,
        time_expire: datetime | None = None,
        quit_url: str | None = None,
    ) -> str:
        """The signed GET that opens Alipay's mobile cashier; no trade exists until it is followed."""
        biz = {**_trade_terms(out_trade_no, amount, subject, time_expire), "product_code": "QUICK_WAP_PAY"}
        if quit_url:
            biz["quit_url"] = quit_url  # where the payer lands on leaving the cashier unpaid
        params = self.signed_params(WAP_PAY, biz, return_url=return_url, notify_url=notify_url)
        separator = "&" if "?" in self.gateway_url else "?"
        return f"{self.gateway_url}{separator}{urlencode(params)}"

    def precreate(
        self,
        out_trade_no: str,
        amount: Money,
        subject: str,
        notify_url: str,
        *,
        time_expire: datetime | None = None,
    ) -> str:
        """Create a trade to be paid by scanning; answers the QR code's content."""
        content = self._call(
            PRECREATE, _trade_terms(out_trade_no, amount, subject, time_expire), notify_url=notify_url
        )
        qr_code = content.get("qr_code")
        if not isinstance(qr_code, str) or not qr_code:
            raise AlipayProviderError("Alipay gave no qr_code")
        return qr_code

    def query(self, out_trade_no: str) -> dict[str, Any]:
        """The trade as Alipay sees it (``trade_status``, ``total_amount``, ``trade_no`` …)."""
        return self._call(QUERY, {"out_trade_no": out_trade_no})

    def refund(self, out_trade_no: str, amount: Money, out_request_no: str) -> dict[str, Any]:
        """Refund ``amount``; one ``out_request_no`` refunds at most once however often it is sent."""
        biz = {
            "out_trade_no": out_trade_no,
            "refund_amount": format_amount(amount),
            "out_request_no": out_request_no,
        }
        return self._call(REFUND, biz)

    def close(self, out_trade_no: str) -> dict[str, Any]:
        return self._call(CLOSE, {"out_trade_no": out_trade_no})

    def refund_query(self, out_trade_no: str, out_request_no: str) -> dict[str, Any]:
        """``alipay.trade.fastpay.refund.query``: a refund never taken answers without ``refund_status``."""
        return self._call(REFUND_QUERY, {"out_trade_no": out_trade_no, "out_request_no": out_request_no})

    def trade_bill(self, day: date) -> bytes | None:
        """The trade bill zip of ``day`` (China time), None for a day without trades.

        Asks for the bill's address, then fetches it at once: the address lives 30 seconds.
        """
        try:
            content = self._call(
                BILL_DOWNLOAD_URL_QUERY, {"bill_type": "trade", "bill_date": day.isoformat()}
            )
        except AlipayProviderError as error:
            if error.provider_code == BILL_NOT_EXIST:
                return None
            raise
        url = content.get("bill_download_url")
        if not isinstance(url, str) or not url.startswith(("https://", "http://")):
            raise AlipayProviderError("Alipay gave no bill_download_url")
        # The address is itself the credential (a short-lived token): a plain GET, no signature.
        return _answered("Alipay's bill address", lambda: self._http.get(url, timeout=self._timeout)).content

    def _call(self, method: str, biz: Mapping[str, Any], **common: str | None) -> dict[str, Any]:
        params = self.signed_params(method, biz, **common)
        # As Alipay's own SDKs do: the common parameters in the query, the business ones in the form body.
        form = {"biz_content": params.pop("biz_content")}
        response = _answered(
            "Alipay",
            lambda: self._http.post(self.gateway_url, params=params, data=form, timeout=self._timeout),
        )
        try:
            raw = response.content.decode("utf-8")  # the charset every request asks for
        except UnicodeDecodeError as error:
            raise AlipayProviderError(f"unreadable answer to {method}") from error
        return read_response(raw, method, self.alipay_public_key_pem)


def _answered(who: str, send: Callable[[], httpx.Response]) -> httpx.Response:
    """The 200 answer of ``send``; no answer, 5xx or 429 can be tried again later, other answers cannot."""
    try:
        response = send()
    except httpx.TimeoutException as error:
        raise AlipayProviderUnavailable(f"{who} did not answer in time") from error
    except httpx.TransportError as error:
        raise AlipayProviderUnavailable(f"{who} could not be reached") from error
    if response.status_code >= 500 or response.status_code == 429:
        raise AlipayProviderUnavailable(f"{who} answered {response.status_code}")
    if response.status_code != 200:
        raise AlipayProviderError(f"{who} answered {response.status_code}")
    return response


def _trade_terms(
    out_trade_no: str, amount: Money, subject: str, time_expire: datetime | None
) -> dict[str, str]:
    terms = {
        "out_trade_no": out_trade_no,
        "total_amount": format_amount(amount),
        # Always named, so every notification and query says which currency its amounts are in.
        "trans_currency": amount.currency,
        # Alipay refuses "/", "=" and "&" in a subject.
        "subject": _SUBJECT_UNSAFE.sub(" ", subject)[:256],
    }
    if time_expire is not None:
        terms["time_expire"] = alipay_time(time_expire)
    return terms


# --- the provider behind the PaymentProvider protocol --------------------------------------------

_OUTCOMES = {"TRADE_SUCCESS": "succeeded", "TRADE_FINISHED": "succeeded", "TRADE_CLOSED": "canceled"}
_KNOWN_STATUSES = frozenset({*_OUTCOMES, "WAIT_BUYER_PAY"})
# A refund's notification carries these; refunds are known from trade.refund's own answer.
_REFUND_FIELDS = ("refund_fee", "gmt_refund", "out_biz_no")


class AlipayProvider:
    """Alipay behind the PaymentProvider protocol; our payment id is the trade's ``out_trade_no``.

    Currency: every trade we open names ``trans_currency``, so genuine notifications of our
    trades carry it; one without it is read in ``default_currency`` (HKD, this operator's
    pricing currency). Either way the service compares amount *and* currency exactly with the
    payment, so a notice in another currency is refused there, never converted.
    """

    name = "alipay"

    def __init__(
        self,
        client: AlipayClient,
        *,
        seller_id: str,
        default_currency: str = "HKD",
        checkout_ttl: timedelta | None = None,
        max_notification_age: timedelta = NOTIFICATION_MAX_AGE,
    ) -> None:
        self.client = client
        self.seller_id = seller_id
        self.default_currency = default_currency
        self.checkout_ttl = checkout_ttl
        self.max_notification_age = max_notification_age

    def open_checkout(self, request: CheckoutRequest) -> Checkout:
        # Alipay keeps one trade per out_trade_no: a repeated checkout reopens the same trade.
        expire = self.client.now() + self.checkout_ttl if self.checkout_ttl else None
        url = self.client.wap_pay_url(
            request.payment_id,
            request.amount,
            request.description,
            request.return_url,
            request.notify_url,
            time_expire=expire,
            quit_url=request.return_url,
        )
        return Checkout(reference=request.payment_id, redirect_url=url)

    def close(self, *, reference: str, payment_id: str) -> None:
        try:
            self.client.close(reference)
        except AlipayProviderError as error:
            # The payer never opened the cashier, so Alipay has no trade to close; time_expire
            # ends the signed link itself.
            if error.provider_code != "ACQ.TRADE_NOT_EXIST":
                raise

    def refund(self, *, reference: str, refund_id: str, amount: Money) -> RefundResult:
        """alipay.trade.refund answers synchronously: a refund it takes is done (the notify repeats it)."""
        content = self.client.refund(reference, amount, refund_id)
        try:
            refunded = money_from_decimal_string(str(content.get("refund_fee")), amount.currency)
        except ValueError as error:
            raise AlipayProviderError("Alipay's refund answer has no readable refund_fee") from error
        if refunded != amount:
            raise AlipayProviderError("Alipay reports a different refunded total than asked")
        return REFUND_SUCCEEDED

    def query_refund(self, *, reference: str, refund_id: str, amount: Money) -> PaymentNotice | None:
        content = self.client.refund_query(reference, refund_id)
        if content.get("refund_status") != "REFUND_SUCCESS":
            return None
        try:
            refunded = money_from_decimal_string(str(content.get("refund_amount")), amount.currency)
        except ValueError as error:
            raise AlipayProviderError("Alipay's refund query has no readable refund_amount") from error
        return PaymentNotice(
            provider=self.name,
            event_id=f"refund-query:{refund_id}",
            kind=REFUND_NOTICE,
            reference=reference,
            amount=refunded,  # the service compares it with the payment's amount
            outcome=REFUNDED_OUTCOME,
        )

    def query(self, *, reference: str, payment_id: str) -> PaymentNotice | None:
        trade = self.client.query(reference)
        status = str(trade.get("trade_status", ""))
        outcome = _OUTCOMES.get(status)
        if outcome is None:
            return None  # the payer has not paid yet
        currency = str(trade.get("trans_currency") or self.default_currency)
        try:
            amount = money_from_decimal_string(str(trade.get("total_amount", "")), currency)
        except ValueError as error:
            raise AlipayProviderError("Alipay's query answer has no readable total_amount") from error
        # One stable id per final state: the real notification, if it comes, changes nothing more.
        return PaymentNotice(
            provider=self.name,
            event_id=f"query:{reference}:{status}",
            kind="query",
            reference=reference,
            amount=amount,
            outcome=outcome,
        )

    def read_notification(
        self, headers: Mapping[str, str], body: bytes, *, now: datetime
    ) -> PaymentNotice | None:
        params = _form_params(body)
        if params.get("sign_type", SIGN_TYPE) != SIGN_TYPE or not verify_signed_params(
            params, self.client.alipay_public_key_pem
        ):
            raise WebhookSignatureInvalid("notification signature does not verify")
        # Signed by Alipay, but possibly for another merchant's trade: it must be ours.
        if params.get("app_id") != self.client.app_id or params.get("seller_id") != self.seller_id:
            raise AlipayNotificationInvalid("notification is for another app or seller")
        try:
            sent_at = parse_alipay_time(params.get("notify_time", ""))
        except ValueError as error:
            raise WebhookMalformed("notification has no readable notify_time") from error
        if abs(now - sent_at) > self.max_notification_age:
            raise WebhookTimestampStale("notification is older than Alipay's retry window")
        if params.get("notify_type") != "trade_status_sync":
            raise AlipayNotificationInvalid("not a trade status notification")
        status = params.get("trade_status", "")
        if status not in _KNOWN_STATUSES:
            raise AlipayNotificationInvalid("unknown trade_status")
        notify_id, reference = params.get("notify_id", ""), params.get("out_trade_no", "")
        if not (0 < len(notify_id) <= 128) or not (0 < len(reference) <= 64):
            raise WebhookMalformed("notification lacks notify_id or out_trade_no")
        try:
            currency = params.get("trans_currency") or self.default_currency
            amount = money_from_decimal_string(params.get("total_amount", ""), currency)
        except ValueError as error:
            raise WebhookMalformed("notification has no readable total_amount") from error
        outcome = _OUTCOMES.get(status)
        if outcome is None or any(params.get(field) for field in _REFUND_FIELDS):
            return None  # waiting for the payer, or a refund we already know from its answer
        # notify_id stays the same across Alipay's retries: exactly the key that applies it once.
        return PaymentNotice(
            provider=self.name,
            event_id=notify_id,
            kind=f"trade_status_sync.{status}",
            reference=reference,
            amount=amount,
            outcome=outcome,
        )

    def acknowledgement(self) -> Acknowledgement:
        return Acknowledgement(200, b"success", "text/plain")

    def download_statement(self, day: date) -> Statement:
        """Alipay's trade bill of ``day``; the bill names no currency, so it is the account's."""
        archive = self.client.trade_bill(day)
        lines = read_bill(archive, currency=self.default_currency) if archive is not None else []
        return Statement(provider=self.name, day=day, lines=tuple(lines))


def _form_params(body: bytes) -> dict[str, str]:
    """The form body, decoded as the UTF-8 every trade asks for; repeated or garbled fields are refused."""
    try:
        # Lenient about empty "&&" segments only: anything else added changes what was signed.
        items = parse_qsl(body.decode("utf-8"), keep_blank_values=True, errors="strict")
    except (UnicodeDecodeError, ValueError) as error:
        raise WebhookMalformed("notification body is not a UTF-8 form") from error
    params = dict(items)
    if len(params) != len(items):
        raise WebhookMalformed("notification repeats a field")
    if params.get("charset", "utf-8").lower() not in ("utf-8", "utf8"):
        raise WebhookMalformed("notification is not in UTF-8")
    return params

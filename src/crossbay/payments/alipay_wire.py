"""Alipay OpenAPI v2's wire: RSA2 signatures, signed answers, Beijing-time stamps and amounts.

Shared by the adapter (``crossbay.payments.alipay``) and the sandbox that plays Alipay.
Nothing here logs a parameter, a signature or a key.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from datetime import datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from crossbay.money import Money
from crossbay.payments.errors import ProviderRefused, ProviderUnavailable

CHINA = ZoneInfo("Asia/Shanghai")  # every Alipay timestamp is Beijing time without an offset
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
SIGN_TYPE = "RSA2"
SUCCESS_CODE = "10000"
WAP_PAY, PRECREATE, QUERY, REFUND, CLOSE = (
    "alipay.trade.wap.pay",
    "alipay.trade.precreate",
    "alipay.trade.query",
    "alipay.trade.refund",
    "alipay.trade.close",
)
REFUND_QUERY = "alipay.trade.fastpay.refund.query"
# Alipay retries an unanswered notification for about 25 hours; anything older is a replay.
NOTIFICATION_MAX_AGE = timedelta(hours=25)
# Answers that mean "try again later" rather than "no".
_RETRYABLE_CODES = frozenset({"20000"})
_RETRYABLE_SUB_CODES = frozenset({"ACQ.SYSTEM_ERROR", "aop.ACQ.SYSTEM_ERROR", "isp.unknow-error"})


class AlipayProviderError(ProviderRefused):
    """Alipay refused; ``provider_code`` is its ``sub_code`` (``ACQ.TRADE_NOT_EXIST``), else its ``code``."""


class AlipayResponseUnverified(AlipayProviderError):
    """An answer whose signature is missing or not Alipay's: nothing in it is believed."""


class AlipayProviderUnavailable(ProviderUnavailable):
    """Alipay could not answer (5xx, timeout, connection, "system busy"): try again later."""


# --- signatures --------------------------------------------------------------------------------


def request_signing_string(params: Mapping[str, str]) -> str:
    """What a request signs: every non-empty parameter but ``sign``, sorted by key, raw values."""
    return "&".join(f"{k}={v}" for k, v in sorted(params.items()) if k != "sign" and v != "")


def notification_signing_string(params: Mapping[str, str]) -> str:
    """What a notification (or return redirect) signs: all but ``sign`` and ``sign_type``, decoded."""
    return "&".join(f"{k}={v}" for k, v in sorted(params.items()) if k not in ("sign", "sign_type"))


def rsa2_sign(message: str, private_key_pem: str) -> str:
    """SHA256withRSA (PKCS#1 v1.5) over the UTF-8 bytes, base64."""
    signature = _private_key(private_key_pem).sign(message.encode(), padding.PKCS1v15(), hashes.SHA256())
    return base64.b64encode(signature).decode()


def rsa2_verify(message: str, signature: str, public_key_pem: str) -> bool:
    try:
        raw = base64.b64decode(signature, validate=True)
        _public_key(public_key_pem).verify(raw, message.encode(), padding.PKCS1v15(), hashes.SHA256())
    except (binascii.Error, ValueError, InvalidSignature):
        return False
    return True


def verify_signed_params(params: Mapping[str, str], public_key_pem: str) -> bool:
    """Alipay's check of a notification or a return redirect, with Alipay's public key."""
    sign = params.get("sign")
    return bool(sign) and rsa2_verify(notification_signing_string(params), sign or "", public_key_pem)


def _pem(text: str, kind: str) -> bytes:
    # Alipay's console hands out keys as bare base64; accept those as well as PEM.
    text = text.strip()
    if text.startswith("-----BEGIN"):
        return text.encode()
    return f"-----BEGIN {kind}-----\n{text}\n-----END {kind}-----\n".encode()


@lru_cache(maxsize=16)
def _private_key(pem: str) -> rsa.RSAPrivateKey:
    key = serialization.load_pem_private_key(_pem(pem, "PRIVATE KEY"), password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise TypeError("Alipay RSA2 needs an RSA private key")
    return key


@lru_cache(maxsize=16)
def _public_key(pem: str) -> rsa.RSAPublicKey:
    key = serialization.load_pem_public_key(_pem(pem, "PUBLIC KEY"))
    if not isinstance(key, rsa.RSAPublicKey):
        raise TypeError("Alipay RSA2 needs an RSA public key")
    return key


# --- synchronous answers: the signature covers the exact text of the inner object ---------------

_DECODER = json.JSONDecoder()
_WHITESPACE = " \t\n\r"


def _skip(text: str, at: int) -> int:
    while at < len(text) and text[at] in _WHITESPACE:
        at += 1
    return at


def top_level_members(raw: str) -> dict[str, str]:
    """The raw text of each member of a JSON object, exactly as sent; ``ValueError`` if not one.

    Walking the top level (rather than searching for the key) means a string value that
    happens to contain ``"alipay_trade_query_response"`` cannot move what is verified.
    """
    members: dict[str, str] = {}
    at = _skip(raw, 0)
    if raw[at : at + 1] != "{":
        raise ValueError("not a JSON object")
    at = _skip(raw, at + 1)
    closed = raw[at : at + 1] == "}"
    at += 1 if closed else 0
    while not closed:
        if raw[at : at + 1] != '"':
            raise ValueError("member name expected")
        key, at = _DECODER.raw_decode(raw, at)
        at = _skip(raw, at)
        if raw[at : at + 1] != ":":
            raise ValueError("':' expected")
        start = _skip(raw, at + 1)
        _, end = _DECODER.raw_decode(raw, start)
        if key in members:
            raise ValueError("duplicate member")  # two answers in one body: believe neither
        members[key] = raw[start:end]
        at = _skip(raw, end)
        closed = raw[at : at + 1] == "}"
        if not closed and raw[at : at + 1] != ",":
            raise ValueError("',' or '}' expected")
        at = _skip(raw, at + 1)
    if _skip(raw, at) != len(raw):
        raise ValueError("text after the object")
    return members


def response_key(method: str) -> str:
    return method.replace(".", "_") + "_response"


def signed_response_body(key: str, content: Mapping[str, Any], private_key_pem: str) -> str:
    """An answer as Alipay writes one: ``{"<key>": {...}, "sign": "..."}``, signed over the inner text."""
    inner = compact_json(content)
    return f'{{{json.dumps(key)}:{inner},"sign":"{rsa2_sign(inner, private_key_pem)}"}}'


def read_response(raw: str, method: str, alipay_public_key_pem: str) -> dict[str, Any]:
    """The verified content of a successful answer; a refusal, a forgery or garbage raises."""
    try:
        members = top_level_members(raw)
        key = response_key(method) if response_key(method) in members else "error_response"
        inner = members[key]
        content = json.loads(inner)
        sign = json.loads(members["sign"]) if "sign" in members else None
    except (KeyError, ValueError) as error:
        raise AlipayProviderError(f"unreadable answer to {method}") from error
    if not isinstance(content, dict):
        raise AlipayProviderError(f"unreadable answer to {method}")
    signed = isinstance(sign, str) and rsa2_verify(inner, sign, alipay_public_key_pem)
    code = str(content.get("code", ""))
    # Alipay leaves some refusals unsigned; a success, or anything carrying a bad signature, must verify.
    if not signed and (sign is not None or (code == SUCCESS_CODE and key != "error_response")):
        raise AlipayResponseUnverified(f"the answer to {method} is not signed by Alipay")
    if code == SUCCESS_CODE and key != "error_response":
        return content
    sub_code = content.get("sub_code")
    provider_code = str(sub_code) if sub_code else code or None
    if code in _RETRYABLE_CODES or provider_code in _RETRYABLE_SUB_CODES:
        raise AlipayProviderUnavailable(f"Alipay could not process {method} now ({provider_code})")
    raise AlipayProviderError(f"Alipay refused {method} ({provider_code})", provider_code=provider_code)


# --- wire formats --------------------------------------------------------------------------------


def compact_json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def alipay_time(at: datetime) -> str:
    return at.astimezone(CHINA).strftime(TIME_FORMAT)


def parse_alipay_time(text: str) -> datetime:
    """``ValueError`` unless ``YYYY-MM-DD HH:MM:SS`` (Beijing time)."""
    return datetime.strptime(text, TIME_FORMAT).replace(tzinfo=CHINA)


def format_amount(amount: Money) -> str:
    """Major units with two decimals, exact: 8800 HKD cents -> "88.00"."""
    return f"{amount.to_decimal().quantize(Decimal('0.01')):f}"

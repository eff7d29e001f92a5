"""WeChat Pay API v3 cryptography: request signatures, signed answers and notifications, AEAD resources.

Shared by the adapter (``crossbay.payments.wechatpay``) and the sandbox that plays WeChat Pay.
Every function works on raw bytes: a signature is never checked over a re-serialized body.
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
import string
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from crossbay.payments.errors import WebhookSignatureInvalid, WebhookTimestampStale

AUTH_SCHEME = "WECHATPAY2-SHA256-RSA2048"
AEAD = "AEAD_AES_256_GCM"
TOLERANCE_SECONDS = 300
TIMESTAMP, NONCE, SIGNATURE, SERIAL, SIGNATURE_TYPE = (
    "Wechatpay-Timestamp",
    "Wechatpay-Nonce",
    "Wechatpay-Signature",
    "Wechatpay-Serial",
    "Wechatpay-Signature-Type",
)
_NONCE_ALPHABET = string.ascii_letters + string.digits


class ResourceUnreadable(ValueError):
    """The resource is not AEAD_AES_256_GCM under our key, or was changed on the way."""


# --- keys and signatures -----------------------------------------------------------------------


@lru_cache(maxsize=16)
def load_private_key(pem: str) -> rsa.RSAPrivateKey:
    key = serialization.load_pem_private_key(pem.encode(), password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError("WeChat Pay keys are RSA keys")
    return key


@lru_cache(maxsize=16)
def load_public_key(pem: str) -> rsa.RSAPublicKey:
    key = serialization.load_pem_public_key(pem.encode())
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError("WeChat Pay keys are RSA keys")
    return key


def new_nonce(length: int = 32) -> str:
    return "".join(secrets.choice(_NONCE_ALPHABET) for _ in range(length))


def sign(key: rsa.RSAPrivateKey, message: bytes) -> str:
    """SHA256withRSA (PKCS#1 v1.5), base64: the one signature WeChat Pay uses both ways."""
    return base64.b64encode(key.sign(message, padding.PKCS1v15(), hashes.SHA256())).decode()


def signature_matches(key: rsa.RSAPublicKey, message: bytes, signature: str) -> bool:
    try:
        key.verify(base64.b64decode(signature, validate=True), message, padding.PKCS1v15(), hashes.SHA256())
    except (InvalidSignature, binascii.Error, ValueError):
        return False
    return True


def request_message(method: str, url: str, timestamp: int, nonce: str, body: bytes) -> bytes:
    """``METHOD\\nPATH?QUERY\\nTIMESTAMP\\nNONCE\\nBODY\\n``; ``url`` is the URL without scheme and host."""
    return f"{method.upper()}\n{url}\n{timestamp}\n{nonce}\n".encode() + body + b"\n"


def authorization(
    *,
    mchid: str,
    serial_no: str,
    key: rsa.RSAPrivateKey,
    method: str,
    url: str,
    body: bytes,
    timestamp: int,
    nonce: str,
) -> str:
    signature = sign(key, request_message(method, url, timestamp, nonce, body))
    return (
        f'{AUTH_SCHEME} mchid="{mchid}",nonce_str="{nonce}",signature="{signature}",'
        f'timestamp="{timestamp}",serial_no="{serial_no}"'
    )


@dataclass(frozen=True)
class Authorization:
    mchid: str
    nonce: str
    signature: str
    timestamp: int
    serial_no: str


_AUTH_PARAM = re.compile(r'\s*([a-z_]+)="([^"]*)"\s*')


def parse_authorization(header: str) -> Authorization:
    """Read an ``Authorization`` header; ``ValueError`` unless it has the scheme and every parameter once."""
    scheme, _, rest = header.strip().partition(" ")
    if scheme != AUTH_SCHEME:
        raise ValueError("not a WECHATPAY2-SHA256-RSA2048 authorization")
    params: dict[str, str] = {}
    for item in rest.split(","):
        match = _AUTH_PARAM.fullmatch(item)
        if match is None or match[1] in params:
            raise ValueError("unreadable authorization parameter")
        params[match[1]] = match[2]
    if set(params) != {"mchid", "nonce_str", "signature", "timestamp", "serial_no"}:
        raise ValueError("authorization parameters missing or unknown")
    if not params["timestamp"].isdigit():
        raise ValueError("authorization timestamp is not a number")
    return Authorization(
        params["mchid"],
        params["nonce_str"],
        params["signature"],
        int(params["timestamp"]),
        params["serial_no"],
    )


def response_message(timestamp: str | int, nonce: str, body: bytes) -> bytes:
    return f"{timestamp}\n{nonce}\n".encode() + body + b"\n"


def signature_headers(
    key: rsa.RSAPrivateKey, body: bytes, *, serial: str, timestamp: int, nonce: str
) -> dict[str, str]:
    """The headers with which WeChat Pay signs an answer or a notification."""
    return {
        TIMESTAMP: str(timestamp),
        NONCE: nonce,
        SIGNATURE: sign(key, response_message(timestamp, nonce, body)),
        SERIAL: serial,
        SIGNATURE_TYPE: AUTH_SCHEME,
    }


def verify_signature(
    headers: Mapping[str, str],
    body: bytes,
    *,
    public_key: rsa.RSAPublicKey,
    public_key_id: str,
    now: datetime,
    tolerance_seconds: int = TOLERANCE_SECONDS,
) -> None:
    """Accept ``body`` (the raw bytes, never a re-serialization) only if WeChat Pay signed it recently."""
    lowered = {name.lower(): value for name, value in headers.items()}
    timestamp, nonce = lowered.get(TIMESTAMP.lower()), lowered.get(NONCE.lower())
    signature, serial = lowered.get(SIGNATURE.lower()), lowered.get(SERIAL.lower())
    if not (timestamp and nonce and signature and serial):
        raise WebhookSignatureInvalid("missing Wechatpay signature headers")
    if lowered.get(SIGNATURE_TYPE.lower(), AUTH_SCHEME) != AUTH_SCHEME:
        raise WebhookSignatureInvalid("unsupported signature type")
    # Only the key we were given: a serial we do not know is never a reason to fetch another.
    if serial != public_key_id:
        raise WebhookSignatureInvalid("signed with a key we do not hold")
    if not timestamp.isdigit():
        raise WebhookSignatureInvalid("unreadable signature timestamp")
    if not signature_matches(public_key, response_message(timestamp, nonce, body), signature):
        raise WebhookSignatureInvalid("signature does not match")
    # Genuine but old (or far-future): a replay, not a new message.
    if abs(int(now.timestamp()) - int(timestamp)) > tolerance_seconds:
        raise WebhookTimestampStale("signature timestamp outside the tolerance window")


# --- encrypted resources -----------------------------------------------------------------------


def aead_key_checked(apiv3_key: str) -> AESGCM:
    key = apiv3_key.encode()
    if len(key) != 32:
        raise ValueError("the APIv3 key is 32 bytes")
    return AESGCM(key)


def encrypt_resource(apiv3_key: str, plaintext: bytes, *, nonce: str, associated_data: str) -> str:
    """Base64 of AES-256-GCM ciphertext with its tag appended, as WeChat Pay sends it."""
    return base64.b64encode(
        aead_key_checked(apiv3_key).encrypt(nonce.encode(), plaintext, associated_data.encode())
    ).decode()


def decrypt_resource(apiv3_key: str, resource: Mapping[str, Any]) -> bytes:
    """Open a notification's ``resource``; ResourceUnreadable if it is not ours or was changed."""
    algorithm, ciphertext = resource.get("algorithm"), resource.get("ciphertext")
    nonce, associated_data = resource.get("nonce"), resource.get("associated_data") or ""
    if algorithm != AEAD:
        raise ResourceUnreadable("unsupported resource algorithm")
    if not (isinstance(ciphertext, str) and isinstance(nonce, str) and isinstance(associated_data, str)):
        raise ResourceUnreadable("resource lacks ciphertext or nonce")
    try:
        data = base64.b64decode(ciphertext, validate=True)
        return aead_key_checked(apiv3_key).decrypt(nonce.encode(), data, associated_data.encode())
    except (InvalidTag, binascii.Error, ValueError) as error:
        raise ResourceUnreadable("resource does not decrypt with our APIv3 key") from error

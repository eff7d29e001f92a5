"""How the sandbox WeChat Pay talks: merchant signatures checked, answers and notifications signed.

Shared by the sandbox's API, refund and cashier routes (``crossbay.sandbox.wechatpay``).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from crossbay.payments.wechatpay_crypto import (
    AEAD,
    TOLERANCE_SECONDS,
    encrypt_resource,
    load_private_key,
    load_public_key,
    new_nonce,
    parse_authorization,
    request_message,
    signature_headers,
    signature_matches,
)
from crossbay.runtime import Runtime
from crossbay.sandbox.notifier import deliver_at_least_once
from crossbay.sandbox.wechatpay_cashier import NOTPAY, REFUND, SUCCESS
from crossbay.sandbox.wechatpay_models import SandboxWechatPayRefund, SandboxWechatPayTransaction
from crossbay.settings import public_key_pem

CHINA_TIME = timezone(timedelta(hours=8))


class Refused(Exception):
    """WeChat Pay's error answer: HTTP status and ``{"code", "message"}``."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(code)
        self.status, self.code, self.message = status, code, message


Answer = tuple[int, dict[str, Any] | None]


@lru_cache(maxsize=4)
def _merchant_key(private_pem: str) -> rsa.RSAPublicKey:
    return load_public_key(public_key_pem(private_pem))


def _authenticate(request: Request, body: bytes, runtime: Runtime) -> None:
    s = runtime.settings
    try:
        auth = parse_authorization(request.headers.get("authorization", ""))
    except ValueError as error:
        raise Refused(401, "SIGN_ERROR", "Authorization 头缺失或格式错误") from error
    if auth.mchid != s.wechatpay_mchid or auth.serial_no != s.wechatpay_serial_no:
        raise Refused(401, "SIGN_ERROR", "商户号或证书序列号不正确")
    if abs(timestamp(runtime.clock.now()) - auth.timestamp) > TOLERANCE_SECONDS:
        raise Refused(401, "SIGN_ERROR", "请求时间戳与服务器时间相差超过5分钟")
    # The path as sent on the wire (never re-encoded), then the query exactly as sent.
    raw_path: bytes = request.scope.get("raw_path") or request.url.path.encode()
    query: bytes = request.scope.get("query_string", b"")
    url = raw_path.decode("latin-1") + (f"?{query.decode('latin-1')}" if query else "")
    message = request_message(request.method, url, auth.timestamp, auth.nonce, body)
    if not signature_matches(_merchant_key(s.secret("wechatpay_private_key")), message, auth.signature):
        raise Refused(401, "SIGN_ERROR", "签名错误")


def signed_headers(runtime: Runtime, content: bytes) -> dict[str, str]:
    """``Wechatpay-*`` headers over ``content``, with the platform key and a fresh timestamp."""
    key = load_private_key(runtime.settings.secret("wechatpay_sandbox_platform_private_key"))
    serial = runtime.settings.wechatpay_platform_public_key_id
    return signature_headers(
        key, content, serial=serial, timestamp=timestamp(runtime.clock.now()), nonce=new_nonce()
    )


def serve(request: Request, body: bytes, runtime: Runtime, operation: Callable[[], Answer]) -> Response:
    """Authenticate, run, and answer signed by the platform key, errors included."""
    try:
        _authenticate(request, body, runtime)
        status, answer = operation()
    except Refused as refused:
        status, answer = refused.status, {"code": refused.code, "message": refused.message}
    content = b"" if answer is None else dumps(answer)
    headers = {**signed_headers(runtime, content), "Request-ID": uuid.uuid4().hex}
    media_type = None if answer is None else "application/json"
    return Response(content, status_code=status, media_type=media_type, headers=headers)


def dumps(value: dict[str, Any]) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def json_object(body: bytes) -> dict[str, Any]:
    try:
        value = json.loads(body)
    except (UnicodeDecodeError, ValueError) as error:
        raise Refused(400, "PARAM_ERROR", "请求体不是合法的 JSON") from error
    if not isinstance(value, dict):
        raise Refused(400, "PARAM_ERROR", "请求体不是 JSON 对象")
    return value


def timestamp(at: datetime) -> int:
    return int(at.timestamp())


def rfc3339(at: datetime) -> str:
    """WeChat Pay's times: RFC 3339 in China Standard Time."""
    return at.astimezone(CHINA_TIME).isoformat(timespec="seconds")


def locked_transaction(session: Session, out_trade_no: str) -> SandboxWechatPayTransaction | None:
    return session.get(SandboxWechatPayTransaction, out_trade_no, with_for_update=True)


_STATE_TEXT = {NOTPAY: "订单未支付", SUCCESS: "支付成功", REFUND: "转入退款", "CLOSED": "订单已关闭"}


def transaction_json(row: SandboxWechatPayTransaction) -> dict[str, Any]:
    """The transaction as the query API answers it and a payment notification carries it."""
    answer: dict[str, Any] = {
        "appid": row.appid,
        "mchid": row.mchid,
        "out_trade_no": row.out_trade_no,
        "trade_type": row.trade_type,
        "trade_state": row.trade_state,
        "trade_state_desc": _STATE_TEXT.get(row.trade_state, row.trade_state),
        "attach": "",
        "amount": {"total": row.amount, "currency": row.currency},
    }
    if row.transaction_id is not None and row.success_time is not None:
        answer.update(
            transaction_id=row.transaction_id,
            bank_type="OTHERS",
            success_time=rfc3339(row.success_time),
            payer={"openid": "o" + hashlib.sha256(row.transaction_id.encode()).hexdigest()[:27]},
            amount={
                "total": row.amount,
                "payer_total": row.amount,
                "currency": row.currency,
                "payer_currency": row.currency,
            },
        )
    return answer


def refund_json(refund: SandboxWechatPayRefund, row: SandboxWechatPayTransaction) -> dict[str, Any]:
    """The refund as the refund API answers it."""
    return {
        "refund_id": refund.refund_id,
        "out_refund_no": refund.out_refund_no,
        "transaction_id": row.transaction_id,
        "out_trade_no": row.out_trade_no,
        "channel": "ORIGINAL",
        "user_received_account": "支付用户零钱",
        "success_time": rfc3339(refund.success_time or refund.created_at),
        "create_time": rfc3339(refund.created_at),
        "status": refund.status,
        "funds_account": "AVAILABLE",
        "amount": {
            "total": refund.total,
            "refund": refund.amount,
            "payer_total": refund.total,
            "payer_refund": refund.amount,
            "settlement_refund": refund.amount,
            "settlement_total": refund.total,
            "discount_refund": 0,
            "currency": refund.currency,
            "refund_fee": 0,
        },
    }


def refund_resource(refund: SandboxWechatPayRefund, row: SandboxWechatPayTransaction) -> dict[str, Any]:
    """The refund as a ``REFUND.*`` notification carries it."""
    return {
        "mchid": row.mchid,
        "out_trade_no": row.out_trade_no,
        "transaction_id": row.transaction_id,
        "out_refund_no": refund.out_refund_no,
        "refund_id": refund.refund_id,
        "refund_status": refund.status,
        "success_time": rfc3339(refund.success_time or refund.created_at),
        "user_received_account": "支付用户零钱",
        # Cross-border (global) merchants' notifications name the currency: ours charge in three.
        "amount": {
            "total": refund.total,
            "refund": refund.amount,
            "payer_total": refund.total,
            "payer_refund": refund.amount,
            "currency": refund.currency,
        },
    }


def notification_body(
    *,
    event_id: str,
    event_type: str,
    summary: str,
    original_type: str,
    plain: dict[str, Any],
    apiv3_key: str,
    created: datetime,
) -> bytes:
    """A notification as WeChat Pay sends it: the resource encrypted with the merchant's APIv3 key."""
    nonce = new_nonce(12)
    ciphertext = encrypt_resource(apiv3_key, dumps(plain), nonce=nonce, associated_data=original_type)
    return dumps(
        {
            "id": event_id,
            "create_time": rfc3339(created),
            "resource_type": "encrypt-resource",
            "event_type": event_type,
            "summary": summary,
            "resource": {
                "original_type": original_type,
                "algorithm": AEAD,
                "ciphertext": ciphertext,
                "associated_data": original_type,
                "nonce": nonce,
            },
        }
    )


def deliver(runtime: Runtime, url: str, body: bytes, *, label: str, first_now: bool) -> None:
    """POST a notification at least once, WeChat Pay's way: any 2xx answer means delivered."""
    deliver_at_least_once(runtime, lambda: _post(runtime, url, body), label=label, first_now=first_now)


def _post(runtime: Runtime, url: str, body: bytes) -> bool:
    # Signed at each attempt, so a late retry carries a fresh timestamp; the body and its id stay the same.
    headers = {"Content-Type": "application/json", **signed_headers(runtime, body)}
    try:
        response = runtime.http.post(url, content=body, headers=headers)
    except (httpx.HTTPError, RuntimeError):  # RuntimeError: the runtime closed while we were waiting
        return False
    return response.is_success

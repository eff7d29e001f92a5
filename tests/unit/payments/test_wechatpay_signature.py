"""WeChat Pay API v3 signatures and resources: exact messages, raw bytes, time window, AEAD.

Where the ``wechatpayv3`` SDK is installed, it cross-checks both directions: what it signs
we accept, and what our sandbox sends it accepts.
"""

from __future__ import annotations

import base64
import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from crossbay.payments.errors import WebhookSignatureInvalid, WebhookTimestampStale
from crossbay.payments.wechatpay_crypto import (
    AUTH_SCHEME,
    ResourceUnreadable,
    authorization,
    decrypt_resource,
    encrypt_resource,
    load_private_key,
    load_public_key,
    parse_authorization,
    request_message,
    signature_headers,
    verify_signature,
)
from crossbay.sandbox.wechatpay_wire import notification_body
from tests.support import keys

MCHID, APPID, SERIAL = "1900000001", "wx0000000000000001", "5157F09EFDC096DE15EBE81A47057A7232F1B8E1"
KEY_ID = "PUB_KEY_ID_0000000000000000000000000001"
NOW = datetime(2026, 11, 26, 4, 0, tzinfo=UTC)
TS = int(NOW.timestamp())
BODY = json.dumps(
    {"appid": APPID, "mchid": MCHID, "description": "香港 eSIM 5GB", "amount": {"total": 8800}},
    ensure_ascii=False,
    separators=(",", ":"),
).encode()


def _secret(name: str) -> str:
    return keys.secret_values()[name]


def _merchant_key() -> rsa.RSAPrivateKey:
    return load_private_key(_secret("wechatpay_private_key"))


def _platform_key() -> rsa.RSAPrivateKey:
    return load_private_key(_secret("wechatpay_sandbox_platform_private_key"))


def _platform_public() -> rsa.RSAPublicKey:
    return load_public_key(_secret("wechatpay_platform_public_key"))


def _rsa_verify(key: rsa.RSAPublicKey, signature: str, message: bytes) -> None:
    """Independent of the code under test: plain ``cryptography``."""
    key.verify(base64.b64decode(signature), message, padding.PKCS1v15(), hashes.SHA256())


def _verify(headers: dict[str, str], body: bytes, *, now: datetime = NOW, key_id: str = KEY_ID) -> None:
    verify_signature(headers, body, public_key=_platform_public(), public_key_id=key_id, now=now)


def _signed(body: bytes, *, ts: int = TS, nonce: str = "n0nce5tring") -> dict[str, str]:
    return signature_headers(_platform_key(), body, serial=KEY_ID, timestamp=ts, nonce=nonce)


def _authorization(method: str, nonce: str) -> str:
    return authorization(
        mchid=MCHID,
        serial_no=SERIAL,
        key=_merchant_key(),
        method=method,
        url="/v3/pay/transactions/h5",
        body=BODY,
        timestamp=TS,
        nonce=nonce,
    )


class TestAuthorization:
    def test_header_has_the_scheme_and_every_parameter_in_order(self) -> None:
        header = _authorization("POST", "593BEC0C930BF1AFEB40B4A08C8FB242")

        pattern = (
            rf'{AUTH_SCHEME} mchid="{MCHID}",nonce_str="593BEC0C930BF1AFEB40B4A08C8FB242",'
            rf'signature="([A-Za-z0-9+/=]+)",timestamp="{TS}",serial_no="{SERIAL}"'
        )
        assert re.fullmatch(pattern, header)

    def test_signature_covers_method_url_timestamp_nonce_and_body_each_on_a_line(self) -> None:
        parsed = parse_authorization(_authorization("post", "NONCE"))
        merchant_public = _merchant_key().public_key()

        exact = b"POST\n/v3/pay/transactions/h5\n" + f"{TS}\nNONCE\n".encode() + BODY + b"\n"
        _rsa_verify(merchant_public, parsed.signature, exact)
        with pytest.raises(InvalidSignature):
            _rsa_verify(merchant_public, parsed.signature, exact[:-1])
        assert (parsed.mchid, parsed.nonce, parsed.timestamp, parsed.serial_no) == (
            MCHID,
            "NONCE",
            TS,
            SERIAL,
        )

    def test_get_signs_path_with_query_and_an_empty_body_line(self) -> None:
        message = request_message(
            "GET", "/v3/pay/transactions/out-trade-no/pay_1?mchid=1900000001", TS, "N", b""
        )

        assert (
            message == f"GET\n/v3/pay/transactions/out-trade-no/pay_1?mchid=1900000001\n{TS}\nN\n\n".encode()
        )

    @pytest.mark.parametrize(
        "header",
        [
            "",
            'Bearer mchid="1",nonce_str="n",signature="s",timestamp="1",serial_no="x"',
            f'{AUTH_SCHEME} mchid="1",nonce_str="n",signature="s",timestamp="1"',
            f'{AUTH_SCHEME} mchid="1",mchid="2",nonce_str="n",signature="s",timestamp="1",serial_no="x"',
            f'{AUTH_SCHEME} mchid="1",nonce_str="n",signature="s",timestamp="soon",serial_no="x"',
            f'{AUTH_SCHEME} mchid=1,nonce_str="n",signature="s",timestamp="1",serial_no="x"',
        ],
    )
    def test_unreadable_headers_are_refused(self, header: str) -> None:
        with pytest.raises(ValueError):
            parse_authorization(header)

    def test_the_sdks_requests_verify_with_our_reading(self) -> None:
        utils = pytest.importorskip("wechatpayv3.utils")
        data = {"mchid": MCHID, "out_trade_no": "pay_123456", "amount": {"total": 1, "currency": "HKD"}}
        header = utils.build_authorization(
            "/v3/pay/transactions/native", "POST", MCHID, SERIAL, _merchant_key(), data=data
        )
        parsed = parse_authorization(header)

        # The SDK signs (and requests sends) ``json.dumps(data)``: those exact bytes.
        body = json.dumps(data).encode()
        message = request_message("POST", "/v3/pay/transactions/native", parsed.timestamp, parsed.nonce, body)
        _rsa_verify(_merchant_key().public_key(), parsed.signature, message)


class TestVerifySignature:
    def test_accepts_what_the_platform_signed(self) -> None:
        headers = _signed(BODY)

        _verify(headers, BODY)
        _rsa_verify(
            _platform_public(), headers["Wechatpay-Signature"], f"{TS}\nn0nce5tring\n".encode() + BODY + b"\n"
        )
        assert headers["Wechatpay-Serial"] == KEY_ID
        assert headers["Wechatpay-Signature-Type"] == AUTH_SCHEME

    def test_header_names_are_case_insensitive(self) -> None:
        _verify({name.lower(): value for name, value in _signed(BODY).items()}, BODY)

    def test_an_empty_body_is_signed_too(self) -> None:
        _verify(_signed(b""), b"")

    def test_one_changed_byte_fails(self) -> None:
        tampered = BODY.replace(b"8800", b"8801")

        with pytest.raises(WebhookSignatureInvalid):
            _verify(_signed(BODY), tampered)

    def test_a_reserialized_body_fails(self) -> None:
        # Same JSON value, other bytes: verification must be over what was sent, not what it means.
        reserialized = json.dumps(json.loads(BODY)).encode()
        assert json.loads(reserialized) == json.loads(BODY)

        with pytest.raises(WebhookSignatureInvalid):
            _verify(_signed(BODY), reserialized)

    def test_another_key_fails(self) -> None:
        headers = signature_headers(_merchant_key(), BODY, serial=KEY_ID, timestamp=TS, nonce="n")

        with pytest.raises(WebhookSignatureInvalid):
            _verify(headers, BODY)

    def test_a_serial_we_do_not_hold_fails(self) -> None:
        with pytest.raises(WebhookSignatureInvalid):
            _verify(_signed(BODY), BODY, key_id="PUB_KEY_ID_0000000000000000000000000002")

    @pytest.mark.parametrize(
        "missing", ["Wechatpay-Timestamp", "Wechatpay-Nonce", "Wechatpay-Signature", "Wechatpay-Serial"]
    )
    def test_each_header_is_required(self, missing: str) -> None:
        headers = _signed(BODY)
        del headers[missing]

        with pytest.raises(WebhookSignatureInvalid):
            _verify(headers, BODY)

    def test_another_signature_type_fails(self) -> None:
        headers = {**_signed(BODY), "Wechatpay-Signature-Type": "WECHATPAY2-SM2-WITH-SM3"}

        with pytest.raises(WebhookSignatureInvalid):
            _verify(headers, BODY)

    @pytest.mark.parametrize("offset", [0, 300, -300])
    def test_within_five_minutes_either_way(self, offset: int) -> None:
        _verify(_signed(BODY), BODY, now=NOW + timedelta(seconds=offset))

    @pytest.mark.parametrize("offset", [301, -301, 86_400])
    def test_outside_five_minutes_is_stale(self, offset: int) -> None:
        with pytest.raises(WebhookTimestampStale):
            _verify(_signed(BODY), BODY, now=NOW + timedelta(seconds=offset))

    def test_a_forged_signature_is_refused_before_its_age_is_considered(self) -> None:
        headers = {**_signed(BODY), "Wechatpay-Timestamp": str(TS - 3600)}

        with pytest.raises(WebhookSignatureInvalid):
            _verify(headers, BODY)


class TestResource:
    KEY = "0123456789abcdef0123456789abcdef"

    def _resource(
        self, plaintext: bytes, *, nonce: str = "abcdefABCDEF", ad: str = "transaction"
    ) -> dict[str, str]:
        return {
            "algorithm": "AEAD_AES_256_GCM",
            "ciphertext": encrypt_resource(self.KEY, plaintext, nonce=nonce, associated_data=ad),
            "associated_data": ad,
            "nonce": nonce,
            "original_type": "transaction",
        }

    def test_round_trip(self) -> None:
        plaintext = '{"out_trade_no":"pay_1","trade_state":"SUCCESS","description":"港澳"}'.encode()

        assert decrypt_resource(self.KEY, self._resource(plaintext)) == plaintext

    def test_ciphertext_is_aes_256_gcm_with_the_tag_appended(self) -> None:
        resource = self._resource(b"hello")
        raw = base64.b64decode(resource["ciphertext"])

        assert len(raw) == len(b"hello") + 16
        assert AESGCM(self.KEY.encode()).decrypt(b"abcdefABCDEF", raw, b"transaction") == b"hello"

    @pytest.mark.parametrize("field", ["ciphertext", "nonce", "associated_data"])
    def test_any_change_fails(self, field: str) -> None:
        resource = self._resource(b'{"amount":{"total":8800}}')
        if field == "ciphertext":
            raw = bytearray(base64.b64decode(resource["ciphertext"]))
            raw[3] ^= 1
            resource["ciphertext"] = base64.b64encode(bytes(raw)).decode()
        else:
            resource[field] = resource[field][:-1] + "X"

        with pytest.raises(ResourceUnreadable):
            decrypt_resource(self.KEY, resource)

    def test_another_key_fails(self) -> None:
        with pytest.raises(ResourceUnreadable):
            decrypt_resource("f" * 32, self._resource(b"{}"))

    @pytest.mark.parametrize(
        "change", [{"algorithm": "AEAD_SM4_GCM"}, {"ciphertext": "not base64!"}, {"nonce": None}]
    )
    def test_unreadable_resources_fail(self, change: dict[str, Any]) -> None:
        with pytest.raises(ResourceUnreadable):
            decrypt_resource(self.KEY, {**self._resource(b"{}"), **change})

    def test_the_sdk_decrypts_ours(self) -> None:
        utils = pytest.importorskip("wechatpayv3.utils")
        resource = self._resource(b'{"ok":true}')

        assert (
            utils.aes_decrypt(resource["nonce"], resource["ciphertext"], "transaction", self.KEY)
            == '{"ok":true}'
        )


class TestSdkCallback:
    """wechatpayv3's ``callback(headers, body)`` is how many merchants read WeChat Pay: it must read ours."""

    def _sdk(self) -> Any:
        wechatpayv3 = pytest.importorskip("wechatpayv3")
        # Given the platform public key and its id, the SDK never fetches /v3/certificates.
        return wechatpayv3.WeChatPay(
            wechatpay_type=wechatpayv3.WeChatPayType.H5,
            mchid=MCHID,
            private_key=_secret("wechatpay_private_key"),
            cert_serial_no=SERIAL,
            appid=APPID,
            apiv3_key=_secret("wechatpay_apiv3_key"),
            notify_url="https://shop.example/webhooks/wechatpay",
            public_key=_secret("wechatpay_platform_public_key"),
            public_key_id=KEY_ID,
        )

    def _notification(self) -> tuple[dict[str, str], bytes]:
        plain = {
            "mchid": MCHID,
            "appid": APPID,
            "out_trade_no": "pay_0123456789abcdef0123",
            "transaction_id": "4200000000000000000000000001",
            "trade_type": "H5",
            "trade_state": "SUCCESS",
            "success_time": "2026-11-26T12:00:00+08:00",
            "amount": {"total": 8800, "payer_total": 8800, "currency": "HKD", "payer_currency": "HKD"},
        }
        body = notification_body(
            event_id="5c1b9f1e-0d1c-4b7e-9d3e-8a2f6c0b1a22",
            event_type="TRANSACTION.SUCCESS",
            summary="支付成功",
            original_type="transaction",
            plain=plain,
            apiv3_key=_secret("wechatpay_apiv3_key"),
            created=NOW,
        )
        return _signed(body), body

    def test_accepts_our_sandboxs_notification(self) -> None:
        headers, body = self._notification()

        result = self._sdk().callback(headers, body)

        assert result["event_type"] == "TRANSACTION.SUCCESS"
        assert result["resource"]["out_trade_no"] == "pay_0123456789abcdef0123"
        assert result["resource"]["amount"] == {
            "total": 8800,
            "payer_total": 8800,
            "currency": "HKD",
            "payer_currency": "HKD",
        }

    def test_refuses_it_tampered(self) -> None:
        headers, body = self._notification()

        assert self._sdk().callback(headers, body.replace(b"SUCCESS", b"SUCCESs", 1)) is None

"""Alipay RSA2: the exact strings Alipay signs, answers verified over their raw text, and
python-alipay-sdk agreeing with us both ways."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx
import pytest

from crossbay.clock import FrozenClock
from crossbay.money import Money
from crossbay.payments.alipay import (
    AlipayClient,
    AlipayProvider,
    AlipayProviderError,
    AlipayProviderUnavailable,
    AlipayResponseUnverified,
)
from crossbay.payments.alipay_wire import (
    WAP_PAY,
    alipay_time,
    format_amount,
    notification_signing_string,
    parse_alipay_time,
    read_response,
    request_signing_string,
    rsa2_sign,
    rsa2_verify,
    signed_response_body,
    top_level_members,
    verify_signed_params,
)
from crossbay.settings import public_key_pem
from tests.support import keys

KEYS = keys.secret_values()
MERCHANT_KEY = KEYS["alipay_private_key"]
MERCHANT_PUBLIC = public_key_pem(MERCHANT_KEY)
ALIPAY_KEY = KEYS["alipay_sandbox_private_key"]
ALIPAY_PUBLIC = KEYS["alipay_public_key"]
APP_ID, SELLER_ID = "2021000000000001", "2088000000000001"
NOW = datetime(2026, 11, 26, 4, 0, tzinfo=UTC)  # 12:00 in Beijing
QUERY_KEY = "alipay_trade_query_response"
CONTENT: dict[str, Any] = {
    "code": "10000",
    "msg": "Success",
    "trade_no": "2026112622001412345678901234",
    "out_trade_no": "pay_1",
    "trade_status": "TRADE_SUCCESS",
    "total_amount": "88.00",
    # Braces and the response key inside a string must not move what is verified.
    "subject": '5GB 數據 } {"alipay_trade_query_response": 1}',
    "fund_bill_list": [{"amount": "88.00", "fund_channel": "ALIPAYACCOUNT"}],
}


def _signed_notification(**overrides: str) -> dict[str, str]:
    params = {
        "notify_time": alipay_time(NOW),
        "notify_type": "trade_status_sync",
        "notify_id": "ac05099524730693a8b330c5ecf72da978",
        "app_id": APP_ID,
        "seller_id": SELLER_ID,
        "trade_no": "2026112622001412345678901234",
        "out_trade_no": "pay_1",
        "trade_status": "TRADE_SUCCESS",
        "total_amount": "88.00",
        "trans_currency": "HKD",
        "subject": "5GB 數據 & more",
        "buyer_pay_amount": "",
        "charset": "utf-8",
        "sign_type": "RSA2",
        **overrides,
    }
    params["sign"] = rsa2_sign(notification_signing_string(params), ALIPAY_KEY)
    return params


def _provider() -> AlipayProvider:
    client = AlipayClient(
        "https://openapi.alipay.com/gateway.do",
        APP_ID,
        MERCHANT_KEY,
        ALIPAY_PUBLIC,
        http=httpx.Client(),
        clock=FrozenClock(NOW),
    )
    return AlipayProvider(client, seller_id=SELLER_ID)


class TestStringToSign:
    def test_request_signs_every_non_empty_parameter_but_sign_sorted_with_raw_values(self) -> None:
        params = {
            "app_id": "2014072300007148",
            "method": "alipay.trade.query",
            "format": "JSON",
            "charset": "utf-8",
            "sign_type": "RSA2",
            "timestamp": "2014-07-24 03:07:50",
            "version": "1.0",
            "biz_content": '{"out_trade_no":"20150320010101001","subject":"測試 & 商品=1"}',
            "notify_url": "",
            "sign": "not part of it",
        }

        assert request_signing_string(params) == (
            "app_id=2014072300007148"
            '&biz_content={"out_trade_no":"20150320010101001","subject":"測試 & 商品=1"}'
            "&charset=utf-8&format=JSON&method=alipay.trade.query&sign_type=RSA2"
            "&timestamp=2014-07-24 03:07:50&version=1.0"
        )

    def test_notification_drops_sign_and_sign_type_and_keeps_empty_values(self) -> None:
        params = {
            "trade_status": "TRADE_SUCCESS",
            "sign": "x",
            "sign_type": "RSA2",
            "app_id": "1",
            "body": "",
        }

        assert notification_signing_string(params) == "app_id=1&body=&trade_status=TRADE_SUCCESS"


class TestRsa2:
    def test_round_trip(self) -> None:
        signature = rsa2_sign("a=1&b=測試", MERCHANT_KEY)

        assert rsa2_verify("a=1&b=測試", signature, MERCHANT_PUBLIC)
        assert signature == rsa2_sign("a=1&b=測試", MERCHANT_KEY)  # PKCS#1 v1.5 is deterministic

    @pytest.mark.parametrize(
        ("message", "key", "mangle"),
        [
            ("a=2&b=測試", MERCHANT_PUBLIC, lambda s: s),  # another message
            ("a=1&b=測試", ALIPAY_PUBLIC, lambda s: s),  # another key
            ("a=1&b=測試", MERCHANT_PUBLIC, lambda s: s[:-4] + "AAA="),  # another signature
            ("a=1&b=測試", MERCHANT_PUBLIC, lambda s: "%%%" + s),  # not base64
            ("a=1&b=測試", MERCHANT_PUBLIC, lambda s: ""),
        ],
    )
    def test_refuses(self, message: str, key: str, mangle: Any) -> None:
        signature = mangle(rsa2_sign("a=1&b=測試", MERCHANT_KEY))

        assert not rsa2_verify(message, signature, key)

    def test_bare_base64_keys_as_alipays_console_gives_them(self) -> None:
        def bare(pem: str) -> str:
            return "".join(line for line in pem.splitlines() if not line.startswith("-----"))

        signature = rsa2_sign("x=1", bare(MERCHANT_KEY))

        assert rsa2_verify("x=1", signature, bare(MERCHANT_PUBLIC))


class TestSignedAnswers:
    def test_reads_what_alipay_signs(self) -> None:
        body = signed_response_body(QUERY_KEY, CONTENT, ALIPAY_KEY)

        assert read_response(body, "alipay.trade.query", ALIPAY_PUBLIC) == CONTENT
        assert json.loads(body)[QUERY_KEY] == CONTENT

    def test_spacing_around_the_inner_object_does_not_matter(self) -> None:
        members = top_level_members(signed_response_body(QUERY_KEY, CONTENT, ALIPAY_KEY))
        # Members reordered, spaces and newlines outside the signed text: still the same inner bytes.
        body = f'\n{{ "sign" :\t{members["sign"]} ,\n  "{QUERY_KEY}" :  {members[QUERY_KEY]}\n}}\n'

        assert read_response(body, "alipay.trade.query", ALIPAY_PUBLIC) == CONTENT

    def test_a_reserialized_inner_object_is_not_what_was_signed(self) -> None:
        body = json.dumps(json.loads(signed_response_body(QUERY_KEY, CONTENT, ALIPAY_KEY)), indent=2)

        with pytest.raises(AlipayResponseUnverified):
            read_response(body, "alipay.trade.query", ALIPAY_PUBLIC)

    def test_one_tampered_byte_fails(self) -> None:
        body = signed_response_body(QUERY_KEY, CONTENT, ALIPAY_KEY).replace('"88.00"', '"89.00"', 1)

        with pytest.raises(AlipayResponseUnverified) as caught:
            read_response(body, "alipay.trade.query", ALIPAY_PUBLIC)
        assert caught.value.status == 502 and not caught.value.retryable

    def test_an_answer_signed_with_another_key_fails(self) -> None:
        body = signed_response_body(QUERY_KEY, CONTENT, MERCHANT_KEY)

        with pytest.raises(AlipayResponseUnverified):
            read_response(body, "alipay.trade.query", ALIPAY_PUBLIC)

    def test_an_unsigned_success_is_not_believed(self) -> None:
        with pytest.raises(AlipayResponseUnverified):
            read_response(json.dumps({QUERY_KEY: CONTENT}), "alipay.trade.query", ALIPAY_PUBLIC)

    def test_a_business_failure_carries_alipays_sub_code(self) -> None:
        failure = {
            "code": "40004",
            "msg": "Business Failed",
            "sub_code": "ACQ.TRADE_NOT_EXIST",
            "sub_msg": "交易不存在",
        }
        body = signed_response_body(QUERY_KEY, failure, ALIPAY_KEY)

        with pytest.raises(AlipayProviderError) as caught:
            read_response(body, "alipay.trade.query", ALIPAY_PUBLIC)

        error = caught.value
        assert (error.code, error.status, error.retryable) == ("payment_provider_error", 502, False)
        assert error.provider_code == "ACQ.TRADE_NOT_EXIST"

    def test_unsigned_refusals_and_error_response_are_refusals(self) -> None:
        unsigned = {
            QUERY_KEY: {"code": "40002", "msg": "Invalid Arguments", "sub_code": "isv.invalid-signature"}
        }
        error_response = {"error_response": {"code": "40002", "sub_code": "isv.invalid-method"}}

        for body, code in ((unsigned, "isv.invalid-signature"), (error_response, "isv.invalid-method")):
            with pytest.raises(AlipayProviderError) as caught:
                read_response(json.dumps(body), "alipay.trade.query", ALIPAY_PUBLIC)
            assert caught.value.provider_code == code

    @pytest.mark.parametrize(
        "content",
        [
            {"code": "20000", "msg": "Service Currently Unavailable", "sub_code": "isp.unknow-error"},
            {"code": "40004", "msg": "Business Failed", "sub_code": "ACQ.SYSTEM_ERROR"},
        ],
    )
    def test_system_busy_is_worth_retrying(self, content: dict[str, str]) -> None:
        with pytest.raises(AlipayProviderUnavailable) as caught:
            read_response(
                signed_response_body(QUERY_KEY, content, ALIPAY_KEY), "alipay.trade.query", ALIPAY_PUBLIC
            )

        assert caught.value.retryable and caught.value.status == 503

    @pytest.mark.parametrize(
        "body",
        [
            "",
            "<html>busy</html>",
            '{"alipay_trade_query_response":{"code":"10000"},"alipay_trade_query_response":{"code":"10000"}}',
            '{"other_response":{"code":"10000"},"sign":"x"}',
            '{"alipay_trade_query_response":{"code":"10000"}} trailing',
            '{"alipay_trade_query_response":[1]}',
        ],
    )
    def test_garbage_is_a_refusal(self, body: str) -> None:
        with pytest.raises(AlipayProviderError):
            read_response(body, "alipay.trade.query", ALIPAY_PUBLIC)

    def test_the_key_inside_a_string_does_not_move_what_is_verified(self) -> None:
        members = top_level_members(signed_response_body(QUERY_KEY, CONTENT, ALIPAY_KEY))
        decoy = json.dumps(f'"{QUERY_KEY}":{{"code":"10000","total_amount":"0.01"}}')
        body = f'{{"note":{decoy},"{QUERY_KEY}":{members[QUERY_KEY]},"sign":{members["sign"]}}}'

        assert read_response(body, "alipay.trade.query", ALIPAY_PUBLIC)["total_amount"] == "88.00"


class TestWireFormats:
    @pytest.mark.parametrize(
        ("money", "text"),
        [(Money(8800, "HKD"), "88.00"), (Money(5, "CNY"), "0.05"), (Money(100, "JPY"), "100.00")],
    )
    def test_amount_is_two_decimal_major_units(self, money: Money, text: str) -> None:
        assert format_amount(money) == text

    def test_time_is_beijing_time(self) -> None:
        assert alipay_time(NOW) == "2026-11-26 12:00:00"
        assert parse_alipay_time("2026-11-26 12:00:00") == NOW
        with pytest.raises(ValueError):
            parse_alipay_time("2026-11-26T12:00:00+08:00")

    def test_wap_pay_url_is_a_signed_get_to_the_gateway(self) -> None:
        url = _provider().client.wap_pay_url(
            "pay_1", Money(8800, "HKD"), "5GB 數據", "https://shop.example/r", "https://shop.example/n"
        )

        parts = urlsplit(url)
        params = dict(parse_qsl(parts.query))
        assert f"{parts.scheme}://{parts.netloc}{parts.path}" == "https://openapi.alipay.com/gateway.do"
        assert {
            k: params[k] for k in ("app_id", "method", "charset", "sign_type", "version", "timestamp")
        } == {
            "app_id": APP_ID,
            "method": WAP_PAY,
            "charset": "utf-8",
            "sign_type": "RSA2",
            "version": "1.0",
            "timestamp": "2026-11-26 12:00:00",
        }
        assert (params["return_url"], params["notify_url"]) == (
            "https://shop.example/r",
            "https://shop.example/n",
        )
        assert params["biz_content"] == (
            '{"out_trade_no":"pay_1","total_amount":"88.00","trans_currency":"HKD",'
            '"subject":"5GB 數據","product_code":"QUICK_WAP_PAY"}'
        )
        assert rsa2_verify(request_signing_string(params), params["sign"], MERCHANT_PUBLIC)

    def test_a_subject_loses_the_characters_alipay_refuses(self) -> None:
        url = _provider().client.wap_pay_url(
            "pay_1",
            Money(100, "HKD"),
            "Asia 10GB/30 days & a=b",
            "https://s.example/r",
            "https://s.example/n",
        )

        biz = json.loads(dict(parse_qsl(urlsplit(url).query))["biz_content"])
        assert biz["subject"] == "Asia 10GB 30 days   a b"


class TestReadNotification:
    def test_a_success_becomes_a_notice_keyed_by_notify_id(self) -> None:
        provider = _provider()
        body = urlencode(_signed_notification()).encode()

        notice = provider.read_notification({}, body, now=NOW + timedelta(minutes=4))

        assert notice is not None
        assert (notice.provider, notice.event_id, notice.reference) == (
            "alipay",
            "ac05099524730693a8b330c5ecf72da978",
            "pay_1",
        )
        assert (notice.amount, notice.outcome) == (Money(8800, "HKD"), "succeeded")

    def test_trade_finished_later_is_another_event_with_the_same_outcome(self) -> None:
        provider = _provider()
        finished = _signed_notification(trade_status="TRADE_FINISHED", notify_id="other-notify-id")

        notice = provider.read_notification({}, urlencode(finished).encode(), now=NOW)

        assert notice is not None
        assert (notice.event_id, notice.outcome) == ("other-notify-id", "succeeded")

    def test_without_trans_currency_the_amount_is_read_in_the_default_currency(self) -> None:
        params = _signed_notification()
        params.pop("trans_currency")
        params["sign"] = rsa2_sign(notification_signing_string(params), ALIPAY_KEY)

        notice = _provider().read_notification({}, urlencode(params).encode(), now=NOW)

        assert notice is not None and notice.amount == Money(8800, "HKD")

    def test_verified_params_check_is_alipays(self) -> None:
        params = _signed_notification()

        assert verify_signed_params(params, ALIPAY_PUBLIC)
        assert not verify_signed_params({**params, "total_amount": "0.01"}, ALIPAY_PUBLIC)
        assert not verify_signed_params(params, MERCHANT_PUBLIC)

    def test_acknowledgement_is_the_plain_word_success(self) -> None:
        ack = _provider().acknowledgement()

        assert (ack.status, ack.body, ack.media_type) == (200, b"success", "text/plain")


@pytest.fixture(scope="module")
def sdk() -> Any:
    alipay = pytest.importorskip("alipay")
    return alipay.AliPay(
        appid=APP_ID,
        app_notify_url=None,
        app_private_key_string=MERCHANT_KEY,
        alipay_public_key_string=ALIPAY_PUBLIC,
        sign_type="RSA2",
    )


class TestPythonAlipaySdk:
    def test_it_makes_the_same_signature_bytes(self, sdk: Any) -> None:
        message = request_signing_string(
            {"app_id": APP_ID, "biz_content": '{"subject":"測試"}', "method": "m"}
        )

        assert sdk._sign(message) == rsa2_sign(message, MERCHANT_KEY)

    def test_our_verifier_accepts_its_signed_requests(self, sdk: Any) -> None:
        query = sdk.api_alipay_trade_wap_pay(
            subject="5GB 數據 & more",
            out_trade_no="pay_1",
            total_amount="88.00",
            return_url="https://shop.example/r?x=1",
            notify_url="https://shop.example/n",
        )
        params = dict(parse_qsl(query, keep_blank_values=True))

        assert rsa2_verify(request_signing_string(params), params["sign"], MERCHANT_PUBLIC)
        assert json.loads(params["biz_content"])["product_code"] == "QUICK_WAP_PAY"

    def test_it_accepts_our_signed_answers(self, sdk: Any) -> None:
        # The SDK counts braces without regard to strings, so its content must not have any in them.
        content = {**CONTENT, "subject": "5GB 數據"}
        body = signed_response_body(QUERY_KEY, content, ALIPAY_KEY)

        assert sdk._verify_and_return_sync_response(body, QUERY_KEY) == content

    def test_it_accepts_our_notifications(self, sdk: Any) -> None:
        data = _signed_notification()
        signature = data.pop("sign")

        assert sdk.verify(data, signature)
        assert not sdk.verify({**data, "total_amount": "0.01"}, signature)

"""Test keys for every secret setting, made once per test process (RSA generation is slow-ish)."""

from __future__ import annotations

import base64
from functools import cache

from crossbay.settings import RSA_KEY, SANDBOX_SECRET_FIELDS, SECRET_FIELDS, _new_secret, public_key_pem


@cache
def secret_values() -> dict[str, str]:
    values = {
        name: _new_secret(name, size)
        for name, size in {**SECRET_FIELDS, **SANDBOX_SECRET_FIELDS}.items()
        if size > 0 or size == RSA_KEY
    }
    values["alipay_public_key"] = public_key_pem(values["alipay_sandbox_private_key"])
    values["wechatpay_platform_public_key"] = public_key_pem(values["wechatpay_sandbox_platform_private_key"])
    # Fixed, readable values where a test compares against them.
    values.update(
        session_key=base64.b64encode(b"k" * 32).decode(),
        pii_key=base64.b64encode(b"k" * 32).decode(),
        pii_lookup_key=base64.b64encode(b"l" * 32).decode(),
        card_secret_key="sk_test_crossbay",
        card_webhook_secret="whsec_test_secret",
        sms_auth_token="sms-token",
    )
    return values

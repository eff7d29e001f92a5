"""What a process needs to run use cases: settings, clock, database, partner adapters.

Built once per process (API or worker) and handed to routes and job handlers.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from datetime import timedelta
from functools import cached_property

import httpx
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from crossbay.clock import Clock, SystemClock
from crossbay.db import make_engine, make_session_factory
from crossbay.esim.es2plus import Es2PlusClient, mutual_tls_client
from crossbay.notify.sms import SmsGateway
from crossbay.payments.alipay import AlipayClient, AlipayProvider
from crossbay.payments.card import CardClient, CardProvider
from crossbay.payments.providers import PaymentProvider
from crossbay.payments.wechatpay import WechatPayClient, WechatPayProvider
from crossbay.pii import PiiCipher
from crossbay.settings import Settings


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    clock: Clock = field(default_factory=SystemClock)

    @cached_property
    def sessions(self) -> sessionmaker[Session]:
        return make_session_factory(self.engine)

    @cached_property
    def http(self) -> httpx.Client:
        """One pooled client for every partner call; partners' timeouts are set per adapter."""
        return httpx.Client(timeout=10.0, headers={"User-Agent": "crossbay/0.1"})

    @cached_property
    def pii(self) -> PiiCipher:
        s = self.settings
        keys = {key_id: _b64(value) for key_id, value in s.pii_previous_keys.items()}
        keys[s.pii_key_id] = s.secret_bytes("pii_key")
        return PiiCipher(keys, s.pii_key_id, s.secret_bytes("pii_lookup_key"))

    @cached_property
    def card(self) -> CardClient:
        s = self.settings
        return CardClient(s.partner_url("card_api"), s.secret("card_secret_key"), http=self.http)

    @cached_property
    def providers(self) -> dict[str, PaymentProvider]:
        """Every payment provider by the name orders and webhooks use for it."""
        s = self.settings
        card = CardProvider(
            self.card,
            webhook_secret=s.secret("card_webhook_secret"),
            tolerance_seconds=s.webhook_tolerance_seconds,
        )
        wechatpay = WechatPayProvider(
            WechatPayClient(
                s.partner_url("wechatpay_api"),
                s.wechatpay_mchid,
                s.wechatpay_appid,
                s.wechatpay_serial_no,
                s.secret("wechatpay_private_key"),
                s.secret("wechatpay_platform_public_key"),
                s.wechatpay_platform_public_key_id,
                http=self.http,
                clock=self.clock,
            ),
            apiv3_key=s.secret("wechatpay_apiv3_key"),
            tolerance_seconds=s.webhook_tolerance_seconds,
            refund_notify_url=f"{s.base_url.rstrip('/')}/webhooks/wechatpay",
        )
        alipay = AlipayProvider(
            AlipayClient(
                s.partner_url("alipay_gateway"),
                s.alipay_app_id,
                s.secret("alipay_private_key"),
                s.secret("alipay_public_key"),
                http=self.http,
                clock=self.clock,
            ),
            seller_id=s.alipay_seller_id,
            checkout_ttl=timedelta(seconds=s.order_ttl_seconds),
        )
        return {provider.name: provider for provider in (card, alipay, wechatpay)}

    @cached_property
    def es2plus(self) -> Es2PlusClient:
        s = self.settings
        # With a client certificate configured the SM-DP+ gets its own mutual-TLS connection pool.
        mtls = mutual_tls_client(cert=s.smdp_client_cert, key=s.smdp_client_key, ca_bundle=s.smdp_ca_bundle)
        return Es2PlusClient(
            s.partner_url("smdp"),
            requester_id=s.smdp_requester_id,
            admin_protocol=s.smdp_admin_protocol,
            http=mtls or self.http,
            timeout=s.smdp_timeout_seconds,
            retries=s.smdp_retries,
            backoff=s.smdp_backoff_seconds,
            owns_http=mtls is not None,
        )

    @cached_property
    def sms(self) -> SmsGateway:
        s = self.settings
        return SmsGateway(
            s.partner_url("sms_gateway"),
            s.sms_account_sid,
            s.secret("sms_auth_token"),
            s.sms_sender,
            http=self.http,
        )

    def close(self) -> None:
        if "http" in self.__dict__:
            self.http.close()
        if "es2plus" in self.__dict__:
            self.es2plus.close()
        self.engine.dispose()


def _b64(value: str) -> bytes:
    return base64.b64decode(value)


def build_runtime(settings: Settings, clock: Clock | None = None) -> Runtime:
    # Every table must be known before the first flush: foreign keys name tables of other contexts.
    import crossbay.models  # noqa: F401

    return Runtime(settings=settings, engine=make_engine(settings.database_url), clock=clock or SystemClock())

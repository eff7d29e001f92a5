"""Settings from ``CROSSBAY_*`` environment variables, validated at start.

With sandbox mode on (the demo), missing secrets are generated once into
``var/secrets.json``; with it off, a missing secret stops start-up with a
message naming the variable.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

# Secrets every deployment needs (sizes in bytes); each is generated for the sandbox/demo only.
RSA_KEY, RSA_PUBLIC = -1, -2  # PEM key pairs rather than random bytes
SECRET_FIELDS: dict[str, int] = {
    "session_key": 32,
    "pii_key": 32,
    "pii_lookup_key": 32,
    "card_secret_key": 24,
    "card_webhook_secret": 24,
    "sms_auth_token": 24,
    "network_api_key": 24,
    "alipay_private_key": RSA_KEY,
    "alipay_public_key": RSA_PUBLIC,
    "wechatpay_private_key": RSA_KEY,
    "wechatpay_apiv3_key": 32,
    "wechatpay_platform_public_key": RSA_PUBLIC,
}
# The providers' own keys: they exist here only because the sandboxes play the providers.
SANDBOX_SECRET_FIELDS: dict[str, int] = {
    "alipay_sandbox_private_key": RSA_KEY,
    "wechatpay_sandbox_platform_private_key": RSA_KEY,
}
# Each public key a merchant holds belongs to the provider key the sandbox signs with.
_PUBLIC_OF = {
    "alipay_public_key": "alipay_sandbox_private_key",
    "wechatpay_platform_public_key": "wechatpay_sandbox_platform_private_key",
}


class SettingsError(RuntimeError):
    """Start-up cannot continue; the message says what to set."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CROSSBAY_", extra="ignore")

    database_url: str = "sqlite:///var/crossbay.db"
    sandbox: bool = False
    # The address this service is reached at; partners (and sandboxes) call back to it.
    base_url: str = "http://127.0.0.1:8000"
    var_dir: Path = Path("var")
    log_level: str = "INFO"
    # Cookies carry Secure unless the service runs on plain HTTP (the demo).
    secure_cookies: bool = True

    session_key: str | None = None
    pii_key: str | None = Field(default=None, description="base64 of 32 bytes (AES-256-GCM)")
    pii_key_id: str = "k1"
    pii_previous_keys: dict[str, str] = Field(default_factory=dict, description="key id -> base64 key")
    pii_lookup_key: str | None = None

    otp_ttl_seconds: int = 300
    otp_resend_seconds: int = 60
    otp_max_attempts: int = 5
    otp_phone_daily_cap: int = 10
    otp_ip_hourly_cap: int = 60
    access_token_ttl_seconds: int = 3600
    refresh_token_ttl_seconds: int = 30 * 24 * 3600
    password_max_failures: int = 5
    password_lock_seconds: int = 15 * 60
    # Back office: a staff session dies after this long without a request, and after the maximum anyway.
    staff_idle_timeout_seconds: int = 15 * 60
    staff_session_max_seconds: int = 10 * 3600
    staff_max_failures: int = 5
    staff_lock_seconds: int = 15 * 60

    order_ttl_seconds: int = 30 * 60
    payment_reconcile_after_seconds: int = 5 * 60
    # The daily reconciliation waits until this Hong Kong hour: providers publish a day's bill by ~10:00.
    reconcile_after_hk_hour: int = Field(default=11, ge=0, le=23)
    # A refund the provider took but whose outcome was never notified is asked about after this.
    refund_check_after_seconds: int = 15 * 60
    # Paid but not fulfilled after this long: the late-order watch opens a support ticket and alerts staff.
    late_order_after_seconds: int = 5 * 60
    # Stored-value limits in HKD cents (a CMHK-style refill: HK$50–1,000, HK$3,000 a month).
    wallet_topup_min: int = 5_000
    wallet_topup_max: int = 100_000
    wallet_topup_monthly_max: int = 300_000
    identity_esim_quota: int = 10
    # Profiles held per SM-DP+ at or below which staff are alerted (once per crossing) to buy a batch.
    profile_stock_low_threshold: int = 50

    card_api_url: str | None = None
    card_secret_key: str | None = None
    card_webhook_secret: str | None = None
    webhook_tolerance_seconds: int = 300
    # Cashier origins checkout may redirect a form to, beyond the partners' API origins.
    payment_redirect_origins: list[str] = Field(default_factory=list)

    smdp_url: str | None = None
    smdp_requester_id: str = "crossbay"
    smdp_admin_protocol: str = "gsma/rsp/v2.5.0"
    smdp_timeout_seconds: float = 10.0
    smdp_retries: int = 2
    smdp_backoff_seconds: float = 0.5
    # Mutual TLS towards a production SM-DP+ (PEM paths). Unset: the system's CAs, no client certificate.
    smdp_client_cert: Path | None = None
    smdp_client_key: Path | None = None
    smdp_ca_bundle: Path | None = None
    # The SM-DP+ this operator expects callbacks from (ES2+ functionRequesterIdentifier).
    smdp_callback_requester_id: str = "sandbox-smdp"

    alipay_gateway_url: str | None = None
    alipay_app_id: str = "2021000000000001"
    alipay_seller_id: str = "2088000000000001"
    alipay_private_key: str | None = Field(default=None, description="merchant RSA private key, PEM")
    alipay_public_key: str | None = Field(default=None, description="Alipay's RSA public key, PEM")
    alipay_sandbox_private_key: str | None = None

    wechatpay_api_url: str | None = None
    wechatpay_mchid: str = "1900000001"
    wechatpay_appid: str = "wx0000000000000001"
    wechatpay_serial_no: str = "5157F09EFDC096DE15EBE81A47057A7232F1B8E1"
    wechatpay_private_key: str | None = Field(default=None, description="merchant API private key, PEM")
    wechatpay_apiv3_key: str | None = Field(default=None, description="the 32-character APIv3 key")
    wechatpay_platform_public_key: str | None = Field(default=None, description="WeChat Pay public key, PEM")
    wechatpay_platform_public_key_id: str = "PUB_KEY_ID_0000000000000000000000000001"
    wechatpay_sandbox_platform_private_key: str | None = None

    sms_gateway_url: str | None = None
    sms_account_sid: str = "AC_crossbay"
    sms_auth_token: str | None = None
    sms_sender: str = "crossbay"

    # Email (reminders): an SMTP relay. Unset in sandbox mode: a local SMTP sink (sandbox/email.py).
    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_user: str | None = None
    smtp_password: str | None = None
    smtp_from: str = "crossbay <no-reply@crossbay.example>"
    smtp_starttls: bool = True
    smtp_timeout_seconds: float = 10.0

    # The network partner's key for /network/* (usage records, credit control).
    network_api_key: str | None = None
    # Credit control (Gy): the slice granted per request, how long a grant is valid, and how long a
    # silent session lives before its grant is returned.
    credit_slice_bytes: int = 15 * 1024 * 1024
    credit_slice_seconds: int = 300
    credit_validity_seconds: int = 600
    credit_session_timeout_seconds: int = 900

    job_lease_seconds: int = 60
    job_max_attempts: int = 8
    job_backoff_seconds: float = 2.0
    job_backoff_max_seconds: float = 600.0
    job_batch_size: int = 10
    worker_poll_seconds: float = 0.5
    worker_threads: int = 4

    # Sandbox partners: how often a provider repeats a notification it already delivered.
    sandbox_webhook_repeats: int = 2
    sandbox_webhook_repeat_delay_seconds: float = 1.0

    def partner_url(self, name: str) -> str:
        """The configured partner URL, or the local sandbox's in sandbox mode."""
        configured: str | None = getattr(self, f"{name}_url")
        if configured:
            return configured.rstrip("/")
        if not self.sandbox:
            raise SettingsError(f"CROSSBAY_{name.upper()}_URL is not set")
        local = {
            "card_api": "/sandbox/card",
            "smdp": "/sandbox/smdp",
            "sms_gateway": "/sandbox/sms",
            "alipay_gateway": "/sandbox/alipay/gateway.do",
            "wechatpay_api": "/sandbox/wechatpay",
        }
        return self.base_url.rstrip("/") + local[name]

    def secret(self, name: str) -> str:
        value: str | None = getattr(self, name)
        if not value:
            raise SettingsError(f"CROSSBAY_{name.upper()} is not set")
        return value

    def secret_bytes(self, name: str) -> bytes:
        return base64.b64decode(self.secret(name))


def load_settings(**overrides: Any) -> Settings:
    """Read the environment, fill sandbox secrets, and refuse to start without the rest."""
    settings = Settings(**overrides)
    missing = [name for name in SECRET_FIELDS if not getattr(settings, name)]
    if settings.sandbox:
        wanted = missing + [name for name in SANDBOX_SECRET_FIELDS if not getattr(settings, name)]
        if wanted:
            generated = _dev_secrets(settings.var_dir)
            settings = settings.model_copy(update={name: generated[name] for name in wanted})
        missing = []
    if missing:
        names = ", ".join(f"CROSSBAY_{name.upper()}" for name in missing)
        raise SettingsError(
            f"missing secrets: {names}. Set them (base64 of 32 random bytes for keys), "
            "or run with CROSSBAY_SANDBOX=1 for a local demo."
        )
    for name in ("pii_key", "pii_lookup_key"):
        if len(settings.secret_bytes(name)) != 32:
            raise SettingsError(f"CROSSBAY_{name.upper()} must be base64 of exactly 32 bytes")
    return settings


def _dev_secrets(var_dir: Path) -> dict[str, str]:
    """Generated once per checkout and completed when a newer version needs more."""
    path = var_dir / "secrets.json"
    values: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
    fields = {**SANDBOX_SECRET_FIELDS, **SECRET_FIELDS}
    if all(name in values for name in fields):
        return values
    var_dir.mkdir(parents=True, exist_ok=True)
    for name, size in fields.items():
        if name not in values and size != RSA_PUBLIC:
            values[name] = _new_secret(name, size)
    for public, private in _PUBLIC_OF.items():
        values.setdefault(public, public_key_pem(values[private]))
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(values, indent=2))
    tmp.chmod(0o600)
    tmp.replace(path)
    return values


def _new_secret(name: str, size: int) -> str:
    if size == RSA_KEY:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        return pem.decode()
    raw = secrets.token_bytes(size)
    if name == "card_webhook_secret":
        return "whsec_" + base64.b64encode(raw).decode()
    if name == "card_secret_key":
        return "sk_test_" + secrets.token_hex(size)
    if name == "wechatpay_apiv3_key":
        return secrets.token_hex(16)  # WeChat Pay's APIv3 key is 32 ASCII characters
    return base64.b64encode(raw).decode()


def public_key_pem(private_pem: str) -> str:
    key = serialization.load_pem_private_key(private_pem.encode(), password=None)
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )

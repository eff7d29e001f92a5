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

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

# Secrets every deployment needs; each is generated for the sandbox/demo only.
SECRET_FIELDS: dict[str, int] = {
    "session_key": 32,
    "pii_key": 32,
    "pii_lookup_key": 32,
    "card_secret_key": 24,
    "card_webhook_secret": 24,
    "sms_auth_token": 24,
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

    order_ttl_seconds: int = 30 * 60
    identity_esim_quota: int = 10

    card_api_url: str | None = None
    card_secret_key: str | None = None
    card_webhook_secret: str | None = None
    webhook_tolerance_seconds: int = 300

    smdp_url: str | None = None
    smdp_requester_id: str = "crossbay"
    smdp_admin_protocol: str = "gsma/rsp/v2.5.0"
    smdp_timeout_seconds: float = 10.0
    # The SM-DP+ this operator expects callbacks from (ES2+ functionRequesterIdentifier).
    smdp_callback_requester_id: str = "sandbox-smdp"

    sms_gateway_url: str | None = None
    sms_account_sid: str = "AC_crossbay"
    sms_auth_token: str | None = None
    sms_sender: str = "crossbay"

    job_lease_seconds: int = 60
    job_max_attempts: int = 8
    job_backoff_seconds: float = 2.0
    job_backoff_max_seconds: float = 600.0
    job_batch_size: int = 10
    worker_poll_seconds: float = 0.5

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
        local = {"card_api": "/sandbox/card", "smdp": "/sandbox/smdp", "sms_gateway": "/sandbox/sms"}
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
    if missing and settings.sandbox:
        generated = _dev_secrets(settings.var_dir)
        settings = settings.model_copy(update={name: generated[name] for name in missing})
    elif missing:
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
    """Generated once per checkout; several processes may race to create it."""
    path = var_dir / "secrets.json"
    if not path.exists():
        var_dir.mkdir(parents=True, exist_ok=True)
        values = {name: _new_secret(name, size) for name, size in SECRET_FIELDS.items()}
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(values, indent=2))
        tmp.chmod(0o600)
        try:
            os.link(tmp, path)  # atomic and fails if another process won the race
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    loaded: dict[str, str] = json.loads(path.read_text())
    return loaded


def _new_secret(name: str, size: int) -> str:
    raw = secrets.token_bytes(size)
    if name == "card_webhook_secret":
        return "whsec_" + base64.b64encode(raw).decode()
    if name == "card_secret_key":
        return "sk_test_" + secrets.token_hex(size)
    return base64.b64encode(raw).decode()

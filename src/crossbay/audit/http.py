"""The request side of an Origin: client address and device, for API routes and pages alike."""

from __future__ import annotations

import hmac

from fastapi import Request

from crossbay.api.deps import client_ip
from crossbay.audit.origin import DEVICE_COOKIE, DEVICE_HEADER, Origin, device_hash, device_label
from crossbay.settings import Settings


def device_key(settings: Settings) -> bytes:
    # Derived from the session key for this one purpose, like the web's CSRF and signing keys.
    return hmac.new(settings.secret_bytes("session_key"), b"crossbay.audit.device", "sha256").digest()


def origin_of(request: Request, settings: Settings, *, device_cookie: str | None = None) -> Origin:
    """``client_ip`` is the peer address, or the forwarded one when uvicorn trusts the proxy
    (``--forwarded-allow-ips`` / FORWARDED_ALLOW_IPS, 127.0.0.1 by default)."""
    user_agent = request.headers.get("user-agent")
    return Origin(
        ip=client_ip(request),
        device_hash=device_hash(
            device_key(settings),
            cookie=device_cookie or request.cookies.get(DEVICE_COOKIE),
            device_id=request.headers.get(DEVICE_HEADER),
            user_agent=user_agent,
        ),
        device=device_label(user_agent),
    )

"""Cookies of the customer pages: the session, CSRF tokens, the signed sign-in state, safe redirects.

Everything here is keyed from ``settings.session_key``; each use derives its own key so a
value signed for one purpose can never be replayed as another.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from starlette.responses import Response

from crossbay.settings import Settings

SESSION_COOKIE = "cb_session"  # the access token itself: HttpOnly, so page scripts never see it
# The refresh token: a returning browser's session is renewed with it instead of a new sign-in.
REFRESH_COOKIE = "cb_refresh"
CSRF_COOKIE = "cb_csrf"
LANG_COOKIE = "cb_lang"
SIGNIN_COOKIE = "cb_signin"
SIGNIN_PATH = "/signin"  # the sign-in state is sent only to the sign-in pages
LANG_COOKIE_SECONDS = 365 * 24 * 3600


def _key(settings: Settings, purpose: str) -> bytes:
    return hmac.new(
        settings.secret_bytes("session_key"), f"crossbay.web.{purpose}".encode(), "sha256"
    ).digest()


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


# --- CSRF -------------------------------------------------------------------------------------


def new_csrf_cookie() -> str:
    return secrets.token_urlsafe(24)


def csrf_token(settings: Settings, cookie_value: str) -> str:
    """The form token for a browser's random ``cb_csrf`` cookie.

    Another site can make the browser send the cookie but cannot read it, so it cannot
    compute the token; tying the token to the cookie (not to the session) keeps the
    sign-in forms, which run before there is a session, protected too.
    """
    return _b64(hmac.new(_key(settings, "csrf"), cookie_value.encode(), "sha256").digest())


def csrf_valid(settings: Settings, cookie_value: str | None, token: str | None) -> bool:
    if not cookie_value or not token:
        return False
    return hmac.compare_digest(csrf_token(settings, cookie_value), token)


# --- signed, short-lived values ---------------------------------------------------------------


def sign(settings: Settings, purpose: str, payload: dict[str, Any], *, expires_at: datetime) -> str:
    body = _b64(json.dumps({**payload, "exp": int(expires_at.timestamp())}, separators=(",", ":")).encode())
    mac = _b64(hmac.new(_key(settings, purpose), body.encode(), "sha256").digest())
    return f"{body}.{mac}"


def unsign(settings: Settings, purpose: str, token: str | None, *, now: datetime) -> dict[str, Any] | None:
    """The payload if the signature is ours and it has not expired; otherwise None."""
    if not token or token.count(".") != 1:
        return None
    body, mac = token.split(".")
    expected = _b64(hmac.new(_key(settings, purpose), body.encode(), "sha256").digest())
    if not hmac.compare_digest(expected, mac):
        return None
    try:
        payload = json.loads(_unb64(body))
    except (binascii.Error, ValueError):
        return None
    if (
        not isinstance(payload, dict)
        or not isinstance(payload.get("exp"), int)
        or payload["exp"] <= now.timestamp()
    ):
        return None
    return payload


@dataclass(frozen=True)
class SignInState:
    """Between the phone form and the code form. Kept in a signed cookie so the phone never sits in a URL."""

    phone: str
    challenge_id: str
    next: str | None = None

    def to_cookie(self, settings: Settings, *, expires_at: datetime) -> str:
        return sign(
            settings,
            "signin",
            {"p": self.phone, "c": self.challenge_id, "n": self.next},
            expires_at=expires_at,
        )

    @classmethod
    def from_cookie(cls, settings: Settings, token: str | None, *, now: datetime) -> SignInState | None:
        payload = unsign(settings, "signin", token, now=now)
        if payload is None or not isinstance(payload.get("p"), str) or not isinstance(payload.get("c"), str):
            return None
        next_path = payload.get("n")
        return cls(payload["p"], payload["c"], safe_next(next_path if isinstance(next_path, str) else None))


# --- cookies and redirects --------------------------------------------------------------------


def set_cookie(
    response: Response, settings: Settings, name: str, value: str, *, max_age: int | None, path: str = "/"
) -> None:
    response.set_cookie(
        name, value, max_age=max_age, path=path, httponly=True, samesite="lax", secure=settings.secure_cookies
    )


def clear_cookie(response: Response, settings: Settings, name: str, *, path: str = "/") -> None:
    response.delete_cookie(name, path=path, httponly=True, samesite="lax", secure=settings.secure_cookies)


def set_session_cookies(
    response: Response, settings: Settings, *, access_token: str, refresh_token: str
) -> None:
    set_cookie(response, settings, SESSION_COOKIE, access_token, max_age=settings.access_token_ttl_seconds)
    set_cookie(response, settings, REFRESH_COOKIE, refresh_token, max_age=settings.refresh_token_ttl_seconds)


def clear_session_cookies(response: Response, settings: Settings) -> None:
    clear_cookie(response, settings, SESSION_COOKIE)
    clear_cookie(response, settings, REFRESH_COOKIE)


def safe_next(value: str | None) -> str | None:
    """A local path to go on to after a detour (sign-in, real-name); anything else is dropped.

    Refusing scheme-relative ``//host`` and backslashes stops the parameter from becoming an
    open redirect to another site.
    """
    if not value or len(value) > 512 or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return None
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or any(ord(c) < 0x20 for c in value):
        return None
    return value

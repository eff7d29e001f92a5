"""Back-office pages: templates, the staff member's language (繁體中文 or English) and how values read."""

from __future__ import annotations

import gettext as _gettext
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from io import BytesIO
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from babel.dates import format_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from starlette.responses import Response

from crossbay.admin.models import StaffAccount
from crossbay.admin.permissions import Action, allowed
from crossbay.clock import HONG_KONG
from crossbay.i18n import normalize_language
from crossbay.money import Money
from crossbay.runtime import Runtime
from crossbay.settings import Settings
from crossbay.web.security import csrf_token, new_csrf_cookie

ADMIN_PATH = "/admin"
STAFF_COOKIE = "cb_staff"
ADMIN_CSRF_COOKIE = "cb_admin_csrf"
ADMIN_LANG_COOKIE = "cb_admin_lang"
LANGUAGES = ("zh-Hant", "en")
LANGUAGE_LABELS = {"zh-Hant": "繁", "en": "EN"}
TEMPLATES_DIR = Path(__file__).parent / "templates"
TRANSLATIONS_DIR = Path(__file__).parent / "translations"
_BABEL_LOCALE = {"zh-Hant": "zh_Hant_HK", "en": "en_HK"}
_DATETIME_PATTERN = {"zh-Hant": "y-MM-dd HH:mm", "en": "y-MM-dd HH:mm"}

# Stored codes and the English words for them (the message ids the catalog translates).
LABELS = {
    "role_admin": "Administrator",
    "role_catalog": "Catalog",
    "role_support": "Support",
    "role_finance": "Finance",
    "status_pending_payment": "Awaiting payment",
    "status_paid": "Paid",
    "status_fulfilling": "Fulfilling",
    "status_fulfilled": "Fulfilled",
    "status_failed": "Failed",
    "status_refunded": "Refunded",
    "status_cancelled": "Cancelled",
    "status_expired": "Expired",
    "method_card": "Card",
    "method_alipay": "Alipay",
    "method_wechatpay": "WeChat Pay",
    "method_wallet": "Wallet",
    "kind_new_esim": "New eSIM",
    "kind_topup": "Top-up",
    "esim_preparing": "Preparing",
    "esim_ready": "Ready to install",
    "esim_installed": "Installed",
    "esim_active": "Active",
    "esim_suspended": "Suspended",
    "esim_terminated": "Terminated",
    "ticket_open": "Open",
    "ticket_waiting_for_customer": "Waiting for customer",
    "ticket_resolved": "Resolved",
    "payment_created": "Created",
    "payment_pending": "Pending",
    "payment_succeeded": "Succeeded",
    "payment_failed": "Failed",
    "payment_canceled": "Cancelled",
    "payment_refunded": "Refunded",
    "step_profile_reserved": "eSIM profile reserved",
    "step_profile_released": "eSIM profile ready to download",
    "step_quota_added": "Data added",
    "step_refund_requested": "Refund requested",
    "step_refund_pending": "Refund pending",
    "step_refund_failed": "Refund failed",
    "job_pending": "Waiting",
    "job_running": "Running",
    "job_done": "Done",
    "job_failed": "Failed",
    "package_data": "Data",
    "package_voice": "Voice",
    "package_bundle": "Data and voice",
}

ENV = Environment(
    loader=FileSystemLoader(TEMPLATES_DIR),
    autoescape=select_autoescape(("html",)),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


@cache
def _translations(language: str) -> _gettext.NullTranslations:
    """English is the message ids themselves; 繁體中文 comes from the back office's own catalog."""
    po_path = TRANSLATIONS_DIR / language.replace("-", "_") / "LC_MESSAGES" / "admin.po"
    if not po_path.exists():
        return _gettext.NullTranslations()
    with po_path.open("rb") as handle:
        catalog = read_po(handle, locale=language.replace("-", "_"))
    buffer = BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return _gettext.GNUTranslations(buffer)


def translate(language: str, message: str) -> str:
    return _translations(language).gettext(message)


def staff_language(request: Request) -> tuple[str, bool]:
    """``?lang=`` (then remembered), the cookie, or the browser's; Simplified readers get 繁體 by default."""
    explicit = normalize_language(request.query_params.get("lang"))
    if explicit in LANGUAGES:
        return str(explicit), True
    remembered = request.cookies.get(ADMIN_LANG_COOKIE)
    if remembered in LANGUAGES:
        return str(remembered), False
    accept = (request.headers.get("accept-language") or "").strip().lower()
    return ("en" if accept.startswith("en") else "zh-Hant"), False


def set_admin_cookie(
    response: Response, settings: Settings, name: str, value: str, *, max_age: int | None
) -> None:
    """Every back-office cookie: HttpOnly, SameSite=Strict, sent only to /admin, Secure outside the demo."""
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path=ADMIN_PATH,
        httponly=True,
        samesite="strict",
        secure=settings.secure_cookies,
    )


def clear_admin_cookie(response: Response, settings: Settings, name: str) -> None:
    response.delete_cookie(
        name, path=ADMIN_PATH, httponly=True, samesite="strict", secure=settings.secure_cookies
    )


@dataclass
class AdminPage:
    request: Request
    runtime: Runtime
    language: str
    staff: StaffAccount | None = None
    remember_language: bool = False
    _new_csrf: str | None = field(default=None, init=False)

    @classmethod
    def of(cls, request: Request) -> AdminPage:
        language, explicit = staff_language(request)
        return cls(
            request, request.app.state.runtime, language, getattr(request.state, "staff", None), explicit
        )

    def _(self, message: str, **values: Any) -> str:
        text = translate(self.language, message)
        return text.format(**values) if values else text

    def label(self, key: str) -> str:
        """A stored code in words; an unknown code is shown as it is rather than hidden."""
        return self._(LABELS[key]) if key in LABELS else key.split("_", 1)[-1]

    def can(self, action: str) -> bool:
        return self.staff is not None and allowed(self.staff.role, Action(action))

    def money(self, value: Money) -> str:
        return value.format(self.language)

    def when(self, at: datetime | None) -> str:
        if at is None:
            return ""
        return format_datetime(
            at, _DATETIME_PATTERN[self.language], tzinfo=HONG_KONG, locale=_BABEL_LOCALE[self.language]
        )

    def csrf_token(self) -> str:
        cookie = self.request.cookies.get(ADMIN_CSRF_COOKIE) or self._new_csrf
        if cookie is None:
            cookie = self._new_csrf = new_csrf_cookie()
        return csrf_token(self.runtime.settings, cookie)

    def lang_url(self, language: str) -> str:
        query = [(k, v) for k, v in self.request.query_params.multi_items() if k != "lang"]
        return f"{self.request.url.path}?{urlencode([*query, ('lang', language)])}"

    def url(self, path: str, **query: Any) -> str:
        kept = {k: v for k, v in query.items() if v not in (None, "")}
        return path + (f"?{urlencode(kept)}" if kept else "")

    def render(self, template: str, *, status: int = 200, **context: Any) -> HTMLResponse:
        html = ENV.get_template(template).render(
            page=self,
            _=self._,
            lang=self.language,
            languages=LANGUAGES,
            language_labels=LANGUAGE_LABELS,
            staff=self.staff,
            money=Money,
            **context,
        )
        response = HTMLResponse(html, status_code=status)
        response.headers["Cache-Control"] = "private, no-store"
        self.finish(response)
        return response

    def finish(self, response: Response) -> None:
        settings = self.runtime.settings
        if self.remember_language:
            set_admin_cookie(response, settings, ADMIN_LANG_COOKIE, self.language, max_age=365 * 24 * 3600)
        if self._new_csrf is not None:
            set_admin_cookie(response, settings, ADMIN_CSRF_COOKIE, self._new_csrf, max_age=None)

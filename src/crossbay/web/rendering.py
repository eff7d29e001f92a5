"""Templates, the request's language, and how values are shown to the customer."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from babel.dates import format_date, format_datetime, format_skeleton
from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from crossbay.api.schemas import MoneyRead
from crossbay.clock import HONG_KONG
from crossbay.i18n import LANGUAGE_NAMES, LANGUAGES, negotiate_language, normalize_language, translate
from crossbay.money import Money
from crossbay.runtime import Runtime
from crossbay.web.inbox import unread_for_cookie
from crossbay.web.security import (
    CSRF_COOKIE,
    LANG_COOKIE,
    LANG_COOKIE_SECONDS,
    REFRESH_COOKIE,
    SESSION_COOKIE,
    csrf_token,
    new_csrf_cookie,
    set_cookie,
)

TEMPLATES_DIR = Path(__file__).parent / "templates"

ENV = Environment(
    loader=FileSystemLoader(TEMPLATES_DIR),
    autoescape=select_autoescape(("html",)),
    undefined=StrictUndefined,  # a misspelt variable fails the test suite instead of rendering blank
    trim_blocks=True,
    lstrip_blocks=True,
)

# Babel locales matching the ones Money formats with: Hong Kong and mainland conventions.
_BABEL_LOCALE = {"zh-Hant": "zh_Hant_HK", "zh-Hans": "zh_Hans_CN", "en": "en_HK"}
# 24-hour clock everywhere: "下午12:05" reads badly in a timeline and "pm" is easy to miss.
_DATETIME_PATTERN = {"zh-Hant": "y年M月d日 HH:mm", "zh-Hans": "y年M月d日 HH:mm", "en": "d MMM y, HH:mm"}
_SHORT_LANGUAGE_NAMES = {"zh-Hant": "繁", "zh-Hans": "简", "en": "EN"}


def request_language(request: Request) -> tuple[str, bool]:
    """``?lang=`` (then remembered), else the cookie, else Accept-Language; and whether it was explicit."""
    explicit = normalize_language(request.query_params.get("lang"))
    if explicit:
        return explicit, True
    remembered = normalize_language(request.cookies.get(LANG_COOKIE))
    if remembered:
        return remembered, False
    return negotiate_language(request.headers.get("accept-language")), False


@dataclass
class Page:
    """One page view: the language, how to say and show things in it, and the cookies to set."""

    request: Request
    runtime: Runtime
    language: str
    remember_language: bool = False
    _new_csrf_cookie: str | None = field(default=None, init=False)

    @classmethod
    def of(cls, request: Request) -> Page:
        language, explicit = request_language(request)
        runtime: Runtime = request.app.state.runtime
        return cls(request, runtime, language, explicit)

    @property
    def signed_in(self) -> bool:
        """Whether the header offers "My account"; pages that need the customer check the token itself."""
        cookies = self.request.cookies
        return bool(cookies.get(SESSION_COOKIE) or cookies.get(REFRESH_COOKIE))

    def unread_notifications(self) -> int:
        """The header badge: the signed-in customer's unread notifications (0 if the cookie is stale)."""
        renewed = getattr(self.request.state, "renewed_tokens", None)  # set when this request renewed it
        token = renewed.access_token if renewed is not None else self.request.cookies.get(SESSION_COOKIE)
        return unread_for_cookie(self.runtime, token)

    def _(self, message: str, **values: Any) -> str:
        text = translate(self.language, message)
        return text.format(**values) if values else text

    def money(self, value: Money | MoneyRead) -> str:
        return value.formatted if isinstance(value, MoneyRead) else value.format(self.language)

    def when(self, at: datetime | None) -> str:
        if at is None:
            return ""
        return format_datetime(
            at, _DATETIME_PATTERN[self.language], tzinfo=HONG_KONG, locale=_BABEL_LOCALE[self.language]
        )

    def day(self, at: datetime | None) -> str:
        if at is None:
            return ""
        return format_date(at.astimezone(HONG_KONG).date(), "medium", locale=_BABEL_LOCALE[self.language])

    def calendar_day(self, day: date, *, short: bool = False) -> str:
        """A Hong Kong calendar day (usage is counted by them): "26 Nov 2026", or "26 Nov" when short."""
        locale = _BABEL_LOCALE[self.language]
        return (
            format_skeleton("MMMd", day, locale=locale)
            if short
            else format_date(day, "medium", locale=locale)
        )

    def csrf_token(self) -> str:
        cookie = self.request.cookies.get(CSRF_COOKIE) or self._new_csrf_cookie
        if cookie is None:
            cookie = self._new_csrf_cookie = new_csrf_cookie()
        return csrf_token(self.runtime.settings, cookie)

    def lang_url(self, language: str) -> str:
        """This page in another language: the same path and query, ``lang`` replaced."""
        query = [(k, v) for k, v in self.request.query_params.multi_items() if k != "lang"]
        return f"{self.request.url.path}?{urlencode([*query, ('lang', language)])}"

    def render(self, template: str, *, status: int = 200, **context: Any) -> HTMLResponse:
        context.setdefault("refresh", None)  # seconds for <meta http-equiv="refresh">; most pages have none
        html = ENV.get_template(template).render(
            page=self,
            _=self._,
            lang=self.language,
            languages=LANGUAGES,
            language_names=LANGUAGE_NAMES,
            short_language_names=_SHORT_LANGUAGE_NAMES,
            **context,
        )
        response = HTMLResponse(html, status_code=status)
        # Pages differ by language and by who is signed in; a shared cache must not mix them up.
        response.headers["Vary"] = "Accept-Language, Cookie"
        if self.signed_in:
            response.headers["Cache-Control"] = "private, no-store"
        self.finish(response)
        return response

    def finish(self, response: Any) -> None:
        """Cookies this view decided on: the remembered language and a first CSRF cookie."""
        settings = self.runtime.settings
        if self.remember_language:
            set_cookie(response, settings, LANG_COOKIE, self.language, max_age=LANG_COOKIE_SECONDS)
        if self._new_csrf_cookie is not None:
            # A browser-session cookie: it lives as long as the tab's forms can.
            set_cookie(response, settings, CSRF_COOKIE, self._new_csrf_cookie, max_age=None)

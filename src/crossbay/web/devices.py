"""Check your phone: does it take an eSIM? Asked before purchase, answered from the devices file.

A plain GET form, so it works without JavaScript and an answer can be linked to. The browser's user
agent is only a hint: iPhones never say which model they are, Android phones often carry the model
code ("SM-S918B"), and Chrome's reduced user agent says just "K". The visitor's own answer always wins.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response

from crossbay.catalog.devices import BRAND_PREFIXES, DeviceAnswer, load_devices, lookup_device
from crossbay.i18n import localized
from crossbay.web.pages import PageDep, PageRoute

router = APIRouter(route_class=PageRoute)

PATH = "/check-phone"
BRANDS = tuple(BRAND_PREFIXES)
# The lookup reads at most this much; a longer paste is cut, never an error page.
MAX_MODEL_CHARS = 80

# Android model codes whose brand is plain from the code, for codes not in the devices file.
_CODE_BRANDS = (
    (re.compile(r"^(samsung\b|sm-)", re.I), "Samsung"),
    (re.compile(r"^pixel\b", re.I), "Google"),
    (re.compile(r"^huawei\b", re.I), "Huawei"),
    (re.compile(r"^honor\b", re.I), "Honor"),
    (re.compile(r"^(xiaomi|redmi|mi|poco)\b", re.I), "Xiaomi"),
    (re.compile(r"^(oppo\b|cph\d)", re.I), "OPPO"),
    (re.compile(r"^vivo\b", re.I), "vivo"),
)
# What sits in an Android user agent's brackets besides the model: "U", a locale, "wv", "K" (reduced).
_NOT_A_MODEL = re.compile(r"^(u|k|wv|mobile|tablet|[a-z]{2}([-_][a-z]{2})?)$", re.I)


@dataclass(frozen=True)
class DeviceHint:
    """What the user agent suggests: "ios" or "android", a brand, and an Android model code if sent."""

    platform: str
    brand: str | None = None
    code: str | None = None
    # The devices file's name for ``code``, when it knows it.
    model: str | None = None


def hint_of(user_agent: str | None) -> DeviceHint | None:
    agent = user_agent or ""
    if re.search(r"\biPhone\b", agent):
        return DeviceHint("ios", "Apple")
    if "Android" not in agent:
        return None  # a computer, an iPad asking for desktop pages, or anything unclear
    code = _android_model_code(agent)
    if code is None:
        return DeviceHint("android")
    answer = lookup_device(code)
    if answer.status != "unknown":
        return DeviceHint("android", _brand_of_model(answer.model), code, answer.model)
    brand = next((name for pattern, name in _CODE_BRANDS if pattern.search(code)), None)
    return DeviceHint("android", brand, code)


def _android_model_code(agent: str) -> str | None:
    """``(Linux; Android 14; SM-S918B Build/UP1A)`` → ``SM-S918B``; None for ``K`` or nothing."""
    bracket = re.search(r"\(([^)]*\bAndroid\b[^)]*)\)", agent)
    if bracket is None:
        return None
    parts = [part.strip() for part in bracket.group(1).split(";")]
    after = next((i for i, part in enumerate(parts) if part.startswith("Android")), None)
    if after is None:
        return None
    for part in parts[after + 1 :]:
        code = re.sub(r"\s*Build/.*$", "", part).strip()
        if code and not _NOT_A_MODEL.match(code) and len(code) <= MAX_MODEL_CHARS:
            return code
    return None


@functools.cache
def _brands_by_model() -> dict[str, str]:
    return {device.name: device.brand for device in load_devices().devices}


def _brand_of_model(model: str) -> str | None:
    return _brands_by_model().get(model)


def check(model: str, brand: str | None) -> DeviceAnswer:
    """What was typed, then the chosen brand in front of it ("Samsung" + "S23 Ultra")."""
    answer = lookup_device(model)
    if answer.status == "unknown" and brand in BRANDS:
        with_brand = lookup_device(f"{brand} {model}")
        if with_brand.status != "unknown":
            return with_brand
    return answer


@router.get(PATH)
def check_phone(
    page: PageDep,
    model: Annotated[str | None, Query(max_length=1000)] = None,
    brand: Annotated[str | None, Query(max_length=40)] = None,
) -> Response:
    hint = hint_of(page.request.headers.get("user-agent"))
    typed = (model or "").strip()[:MAX_MODEL_CHARS]
    chosen = brand if brand in BRANDS else (hint.brand if hint and model is None else None)
    answer = check(typed, chosen) if typed else None
    if answer is not None and chosen is None:
        chosen = _brand_of_model(answer.model)  # "Check another phone" starts from this one's brand
    return page.render(
        "check_phone.html",
        model=typed,
        brand=chosen,
        brands=BRANDS,
        # The hint greets a first visit; once the visitor has asked, their answer is the page.
        hint=hint if model is None else None,
        empty=model is not None and not typed,
        answer=answer,
        notes=localized(answer.notes, page.language) if answer else None,
    )

"""Languages and translations (gettext catalogs in ``web/translations/*/messages.po``)."""

from __future__ import annotations

import gettext as _gettext
from functools import cache
from io import BytesIO
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

LANGUAGES = ("zh-Hant", "zh-Hans", "en")
DEFAULT_LANGUAGE = "zh-Hant"
LANGUAGE_NAMES = {"zh-Hant": "繁體中文", "zh-Hans": "简体中文", "en": "English"}
_CATALOG_DIR = Path(__file__).parent / "web" / "translations"
_CATALOG_NAME = {"zh-Hant": "zh_Hant", "zh-Hans": "zh_Hans", "en": "en"}


def normalize_language(tag: str | None) -> str | None:
    """Map a BCP 47 tag to one of ours: zh-HK/zh-TW/zh-MO → zh-Hant, zh-CN/zh-SG → zh-Hans."""
    if not tag:
        return None
    parts = tag.strip().replace("_", "-").lower().split("-")
    if parts[0] == "en":
        return "en"
    if parts[0] != "zh":
        return None
    rest = set(parts[1:])
    if rest & {"hans", "cn", "sg", "my"}:
        return "zh-Hans"
    return "zh-Hant"


def negotiate_language(accept_language: str | None, explicit: str | None = None) -> str:
    chosen = normalize_language(explicit)
    if chosen:
        return chosen
    ranked: list[tuple[float, int, str]] = []
    for index, item in enumerate((accept_language or "").split(",")):
        tag, _, params = item.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        language = normalize_language(tag)
        if language and quality > 0:
            ranked.append((-quality, index, language))
    return sorted(ranked)[0][2] if ranked else DEFAULT_LANGUAGE


@cache
def translations(language: str) -> _gettext.NullTranslations:
    po_path = _CATALOG_DIR / _CATALOG_NAME.get(language, "en") / "LC_MESSAGES" / "messages.po"
    if not po_path.exists():
        return _gettext.NullTranslations()
    with po_path.open("rb") as handle:
        catalog = read_po(handle, locale=_CATALOG_NAME[language])
    buffer = BytesIO()
    # Compiled in memory so a checkout needs no build step before it runs.
    write_mo(buffer, catalog)
    buffer.seek(0)
    return _gettext.GNUTranslations(buffer)


def translate(language: str, message: str) -> str:
    return translations(language).gettext(message)


def localized(values: dict[str, str], language: str) -> str:
    """Pick a language from a stored {language: text} mapping, falling back sensibly."""
    return (
        values.get(language)
        or values.get(DEFAULT_LANGUAGE)
        or values.get("en")
        or next(iter(values.values()), "")
    )

"""Every message a customer can see is translated into both Chinese scripts, placeholders intact."""

from __future__ import annotations

import re
import string
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po
from jinja2 import Environment
from jinja2.ext import extract_from_ast
from stdnum.cn import ric

from crossbay.api.problems import TITLES
from crossbay.errors import CrossbayError
from crossbay.i18n import translate
from crossbay.identity.phones import normalize_phone
from crossbay.identity.service import check_password_strength
from crossbay.kyc.documents import DocumentType, check_document
from crossbay.web import messages
from crossbay.web.rendering import TEMPLATES_DIR

TRANSLATIONS = Path(TEMPLATES_DIR).parent / "translations"
CHINESE = ("zh_Hant", "zh_Hans")
SMS_TEXT = "crossbay verification code: {code}. Valid for 5 minutes. Never share it."
TODAY = date(2026, 11, 26)
BORN = date(1990, 5, 17)


def _catalog(name: str) -> Catalog:
    with (TRANSLATIONS / name / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        return read_po(handle, locale=name)


def template_messages() -> set[str]:
    env = Environment()
    found: set[str] = set()
    for path in TEMPLATES_DIR.glob("*.html"):
        for _line, _function, message in extract_from_ast(
            env.parse(path.read_text()), gettext_functions=("_",)
        ):
            # _("text", name=value) yields a tuple whose first item is the text.
            text = message[0] if isinstance(message, tuple) else message
            assert isinstance(text, str), f"{path.name}: _() needs a literal message"
            found.add(text)
    return found


def _prc(body: str) -> str:
    return body + ric.calc_check_digit(body + "0")


def _problems(call: Callable[[], object]) -> list[str]:
    with pytest.raises(CrossbayError) as raised:
        call()
    return [problem.message for problem in raised.value.errors]


def field_messages() -> set[str]:
    """The messages the identity checks really produce, found by making each check fail."""
    good_prc = _prc("11010519900517123")
    wrong_prc_check = good_prc[:-1] + ("0" if good_prc[-1] != "0" else "1")

    def document(
        doc_type: DocumentType, number: str, *, born: date = BORN, name: str = "陳大文"
    ) -> Callable[[], object]:
        return lambda: check_document(doc_type, number, born, today=TODAY, full_name=name)

    calls = [
        document(DocumentType.HKID, "A12"),
        document(DocumentType.PRC_ID, "123"),
        document(DocumentType.MACAU_ID, "X"),
        document(DocumentType.HK_MACAU_PERMIT, "X"),
        document(DocumentType.PASSPORT, "!"),
        document(DocumentType.HKID, "A123456(0)"),
        document(DocumentType.PRC_ID, wrong_prc_check),
        document(DocumentType.PRC_ID, _prc("11010519901340123")),
        document(DocumentType.PRC_ID, good_prc, born=date(1991, 1, 1)),
        document(DocumentType.HKID, "A123456(3)", born=date(2015, 1, 1)),
        document(DocumentType.HKID, "A123456(3)", name=" "),
        document(DocumentType.HKID, "A123456(3)", name="陳1"),
        document(DocumentType.HKID, "A123456(3)", born=date(2030, 1, 1)),
        document(DocumentType.HKID, "A123456(3)", born=date(1899, 12, 31)),
        lambda: normalize_phone("12345"),
        lambda: check_password_strength("abc", phone="+85291234567"),
    ]
    return {message for call in calls for message in _problems(call)}


def every_message() -> set[str]:
    return template_messages() | set(TITLES.values()) | set(messages.ALL) | field_messages() | {SMS_TEXT}


def _fields(text: str) -> set[str]:
    return {name for _literal, name, _spec, _conversion in string.Formatter().parse(text) if name is not None}


def test_the_checks_found_every_kind_of_field_message() -> None:
    # Guards the guard: if a check stops failing the way it should, the set above shrinks.
    assert len(field_messages()) == 16


@pytest.mark.parametrize("name", CHINESE)
def test_every_customer_message_is_translated(name: str) -> None:
    catalog = _catalog(name)
    missing = sorted(m for m in every_message() if not (catalog.get(m) and catalog.get(m).string))  # type: ignore[union-attr]
    assert missing == []


@pytest.mark.parametrize("name", CHINESE)
def test_translations_keep_their_placeholders_and_are_chinese(name: str) -> None:
    for message in _catalog(name):
        if not message.id:
            continue  # the header
        assert isinstance(message.id, str) and isinstance(message.string, str)
        assert not message.fuzzy, message.id
        assert _fields(message.string) == _fields(message.id), message.id
        if re.search(
            r"[A-Za-z]{4,}",
            re.sub(
                r"\{\w+\}|eSIM|crossbay|iPhone|Android|SM-DP\+|Idempotency-Key|"
                r"challenge_id|CMHK|CTM|QR|SIM|HKID|ID|GB",
                "",
                message.id,
            ),
        ):
            assert re.search(r"[\u4e00-\u9fff]", message.string), f"{name} left {message.id!r} in English"


def test_every_catalog_reads_and_runs() -> None:
    for name in (*CHINESE, "en"):
        assert _catalog(name).locale is not None
    assert translate("zh-Hant", "Sign in") == "登入"
    assert translate("zh-Hans", "Sign in") == "登录"
    assert translate("en", "Sign in") == "Sign in"
    assert translate("zh-Hant", SMS_TEXT).format(code="123456").startswith("crossbay 驗證碼：123456")


def test_traditional_and_simplified_are_not_mixed_up() -> None:
    # A handful of characters that differ between the scripts, as a spot check of which file is which.
    hant = " ".join(str(m.string) for m in _catalog("zh_Hant"))
    hans = " ".join(str(m.string) for m in _catalog("zh_Hans"))
    assert all(c in hant and c not in hans for c in "帳號機語證")
    assert all(c in hans and c not in hant for c in "账号机语证")

"""Every notification, page message and field message of notify is translated, placeholders intact,
and a notification reads right in each language."""

from __future__ import annotations

import string
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from crossbay.errors import CrossbayError
from crossbay.money import Money
from crossbay.notify import messages
from crossbay.notify.preferences import check_preferences
from crossbay.notify.service import normalize_email
from crossbay.web import notifications as pages
from crossbay.web.rendering import TEMPLATES_DIR

CATALOGS = Path(TEMPLATES_DIR).parent / "translations"


def field_messages() -> set[str]:
    found: set[str] = set()
    with pytest.raises(CrossbayError) as raised:
        check_preferences(
            low_data_percent=5, expiry_days_before=9, low_balance=Money(-1, "HKD"), channels=["x"]
        )
    found |= {p.message for p in raised.value.errors}
    with pytest.raises(CrossbayError) as raised:
        check_preferences(low_data_percent=20, expiry_days_before=1, low_balance=Money(0, "CNY"), channels=[])
    found |= {p.message for p in raised.value.errors}
    with pytest.raises(CrossbayError) as raised:
        normalize_email("no")
    found |= {p.message for p in raised.value.errors}
    return found


def _fields(text: str) -> set[str]:
    return {name for _l, name, _s, _c in string.Formatter().parse(text) if name}


@pytest.mark.parametrize("name", ["zh_Hant", "zh_Hans"])
def test_every_notify_message_is_translated(name: str) -> None:
    with (CATALOGS / name / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        catalog = read_po(handle, locale=name)
    wanted = {*messages.ALL, *pages.PAGE_MESSAGES, *field_messages()}
    assert len(field_messages()) == 6
    for message in wanted:
        found = catalog.get(message)
        assert found is not None and found.string, f"{name}: {message!r}"
        assert _fields(str(found.string)) == _fields(message), message


def test_a_failed_renewal_says_why_in_each_language() -> None:
    values = {
        "package": {"zh-Hant": "香港 1GB", "zh-Hans": "香港 1GB", "en": "Hong Kong 1 GB"},
        "reason": "insufficient_balance",
        "amount": {"amount": 1800, "currency": "HKD"},
        "balance": {"amount": 500, "currency": "HKD"},
    }
    title, body = messages.render(messages.AUTO_RENEW_FAILED, values, "en")
    assert title == "Auto-renew could not buy your pack"
    assert body == (
        "Hong Kong 1 GB was not bought: your wallet holds HK$5.00 and the pack costs HK$18.00. "
        "Buy a pack in the app to stay connected."
    )
    _title, hant = messages.render(messages.AUTO_RENEW_FAILED, values, "zh-Hant")
    assert "HK$5.00" in hant and "錢包" in hant
    _title, other = messages.render(messages.AUTO_RENEW_FAILED, {**values, "reason": "smdp_error"}, "en")
    assert "the purchase did not go through." in other


def test_dates_read_in_the_readers_language() -> None:
    values = {"package": {"en": "Pack"}, "date": "2026-11-28"}
    assert messages.render(messages.EXPIRY_SOON, values, "en")[1] == (
        "Pack ends on 28 November 2026 at 23:59 Hong Kong time."
    )
    assert "2026年11月28日" in messages.render(messages.EXPIRY_SOON, values, "zh-Hant")[1]

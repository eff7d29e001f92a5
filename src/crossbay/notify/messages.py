"""What each notification says: English message ids (translated by web/translations) and their values.

A notification is stored as its kind and values; the words are made in the reader's language
when it is read, sent or shown. Values are plain JSON: ``package`` a {language: name} mapping,
money as {"amount", "currency"}, dates as ISO strings, percentages as integers.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from babel.dates import format_date

from crossbay.i18n import localized, translate
from crossbay.money import Money

LOW_DATA = "low_data"
DATA_EXHAUSTED = "data_exhausted"
EXPIRY_SOON = "expiry_soon"
LOW_BALANCE = "low_balance"
AUTO_RENEW_SUCCEEDED = "auto_renew_succeeded"
AUTO_RENEW_FAILED = "auto_renew_failed"
ORDER_REFUNDED = "order_refunded"
KINDS = (
    LOW_DATA,
    DATA_EXHAUSTED,
    EXPIRY_SOON,
    LOW_BALANCE,
    AUTO_RENEW_SUCCEEDED,
    AUTO_RENEW_FAILED,
    ORDER_REFUNDED,
)


@dataclass(frozen=True)
class Wording:
    title: str
    body: str


WORDING: dict[str, Wording] = {
    LOW_DATA: Wording(
        "Your pack is running low",
        "{package} has {percent}% left. You can add a pack at any time in the app.",
    ),
    DATA_EXHAUSTED: Wording(
        "Your pack is used up",
        "{package} is used up. Add a pack in the app to stay connected.",
    ),
    EXPIRY_SOON: Wording(
        "Your pack ends soon",
        "{package} ends on {date} at 23:59 Hong Kong time.",
    ),
    LOW_BALANCE: Wording(
        "Your wallet balance is low",
        "Your wallet holds {balance}, less than the {threshold} you asked to be told about.",
    ),
    AUTO_RENEW_SUCCEEDED: Wording(
        "Auto-renew bought your pack",
        "{package} was bought for {amount} from your wallet. It will be on your eSIM within minutes.",
    ),
    AUTO_RENEW_FAILED: Wording(
        "Auto-renew could not buy your pack",
        "{package} was not bought: {reason} Buy a pack in the app to stay connected.",
    ),
    ORDER_REFUNDED: Wording(
        "Your order was refunded",
        "{amount} for your order has been refunded. It can take a few days to show.",
    ),
}

# Why an auto-renewal failed, by error code.
FAILURE_REASONS: dict[str, str] = {
    "insufficient_balance": "your wallet holds {balance} and the pack costs {amount}.",
    "package_not_available": "this pack is no longer sold.",
    "not_found": "this pack is no longer sold.",
    "esim_not_active": "this eSIM cannot be topped up now.",
}
OTHER_FAILURE = "the purchase did not go through."
SMS_FORMAT = "crossbay | {title}\n{body}"
EMAIL_FOOTER = "You can change which reminders you get, and how, in the app: My account, Reminders."

ALL: tuple[str, ...] = (
    *(w.title for w in WORDING.values()),
    *(w.body for w in WORDING.values()),
    *FAILURE_REASONS.values(),
    OTHER_FAILURE,
    EMAIL_FOOTER,
)

_BABEL_LOCALE = {"zh-Hant": "zh_Hant_HK", "zh-Hans": "zh_Hans_CN", "en": "en_HK"}


def _show(name: str, value: Any, language: str) -> str:
    if isinstance(value, dict) and {"amount", "currency"} <= value.keys():
        return Money(int(value["amount"]), str(value["currency"])).format(language)
    if isinstance(value, dict):
        return localized({str(k): str(v) for k, v in value.items()}, language)
    if name == "date":
        return format_date(
            date.fromisoformat(str(value)), "long", locale=_BABEL_LOCALE.get(language, "en_HK")
        )
    return str(value)


def render(kind: str, values: dict[str, Any], language: str) -> tuple[str, str]:
    """The title and body of a notification in ``language``."""
    wording = WORDING[kind]
    shown = {name: _show(name, value, language) for name, value in values.items() if name != "reason"}
    if kind == AUTO_RENEW_FAILED:
        reason = FAILURE_REASONS.get(str(values.get("reason")), OTHER_FAILURE)
        shown["reason"] = translate(language, reason).format_map(_Blank(shown))
    body = translate(language, wording.body).format_map(_Blank(shown))
    return translate(language, wording.title), body


class _Blank(dict[str, str]):
    """A value a message asks for but the notification lacks reads as nothing rather than failing."""

    def __missing__(self, key: str) -> str:
        return ""

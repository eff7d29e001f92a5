"""English message ids the page code (not the templates) shows; web/translations holds the Chinese.

Kept together so the translation test can check every one of them.
"""

from __future__ import annotations

# Failures only pages have, shown like the titles of api.problems.TITLES.
WEB_TITLES: dict[str, str] = {
    "csrf_failed": "This form has expired. Please go back, reload the page and try again.",
}

# Form fields the page checks before any use case runs.
CHOOSE_DOCUMENT_TYPE = "Choose the type of document"
ENTER_BIRTH_DATE = "Enter your date of birth"
CHOOSE_PAYMENT_METHOD = "Choose a way to pay"
ENTER_PIN = "Enter your 6-digit payment PIN"
ENTER_NEW_PIN = "Enter 6 digits"
PINS_DIFFER = "The two PINs are not the same"
PASSWORDS_DIFFER = "The two passwords are not the same"
WRONG_PASSWORD = "The password is not correct"  # noqa: S105 - a message, not a secret
ENTER_CODE = "Enter your code"
ENTER_AMOUNT = "Enter an amount in whole Hong Kong dollars"

# A wait the customer can count down: "{title}" is the error's own (translated) title.
WAIT_SECONDS = "{title} (about {seconds} seconds)."
# Wallet payments: how many wrong PINs are left, and how long a lock lasts.
PIN_TRIES_LEFT = "{title}. After {left} more wrong tries, wallet payments are locked for 30 minutes."
PIN_LOCKED = (
    "Too many wrong PINs: wallet payments are locked for about {minutes} minutes. You can pay another way."
)

# ?notice= codes a redirect may carry: a fixed word, never free text or personal data.
NOTICES: dict[str, str] = {
    "identity_required": "Please complete real-name registration first",
    "payment_failed": "The payment did not go through. You can try again.",
    "pin_saved": "Your payment PIN is saved.",
    "password_saved": "Your password is saved.",
    "payment_saved": "Your preferred way to pay is saved.",
}

ALL: tuple[str, ...] = (
    *WEB_TITLES.values(),
    CHOOSE_DOCUMENT_TYPE,
    ENTER_BIRTH_DATE,
    CHOOSE_PAYMENT_METHOD,
    ENTER_PIN,
    ENTER_NEW_PIN,
    PINS_DIFFER,
    PASSWORDS_DIFFER,
    WRONG_PASSWORD,
    ENTER_CODE,
    ENTER_AMOUNT,
    WAIT_SECONDS,
    PIN_TRIES_LEFT,
    PIN_LOCKED,
    *NOTICES.values(),
)

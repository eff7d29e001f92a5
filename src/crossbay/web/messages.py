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

# A wait the customer can count down: "{title}" is the error's own (translated) title.
WAIT_SECONDS = "{title} (about {seconds} seconds)."

# ?notice= codes a redirect may carry: a fixed word, never free text or personal data.
NOTICES: dict[str, str] = {
    "identity_required": "Please complete real-name registration first",
    "payment_failed": "The payment did not go through. You can try again.",
}

ALL: tuple[str, ...] = (
    *WEB_TITLES.values(),
    CHOOSE_DOCUMENT_TYPE,
    ENTER_BIRTH_DATE,
    WAIT_SECONDS,
    *NOTICES.values(),
)

"""English message ids the support pages and the late-order watch use; web/translations holds the Chinese."""

from __future__ import annotations

SUBJECT_MAX = 200
BODY_MAX = 5000

# Field problems (also the API's errors[].message, translated).
ENTER_SUBJECT = "Enter a subject"
ENTER_MESSAGE = "Enter a message"
SUBJECT_TOO_LONG = f"The subject can be at most {SUBJECT_MAX} characters"
MESSAGE_TOO_LONG = f"The message can be at most {BODY_MAX} characters"
UNKNOWN_ORDER = "No such order"
UNKNOWN_CURSOR = "Unknown cursor"
TOO_MANY_TICKETS = "You have opened many requests today. Please add to an open one instead."

# What the late-order watch writes: stored as these ids, shown in the reader's language.
LATE_ORDER_SUBJECT = "Your order is taking longer than usual"
LATE_ORDER_OPENED = (
    "Your payment has arrived, but your order is taking longer than usual. Our support team has been "
    "alerted and is looking into it. You do not need to do anything; we will write here when it is done."
)
LATE_ORDER_FULFILLED = (
    "Your order is complete, so we have closed this request. Reply here if anything is still wrong."
)
RESOLVED_BY_STAFF = "Support marked this request as resolved. Reply here if you still need help."

# The system's own messages, translated when read.
SYSTEM_MESSAGES = frozenset({LATE_ORDER_SUBJECT, LATE_ORDER_OPENED, LATE_ORDER_FULFILLED, RESOLVED_BY_STAFF})

ALL: tuple[str, ...] = (
    ENTER_SUBJECT,
    ENTER_MESSAGE,
    SUBJECT_TOO_LONG,
    MESSAGE_TOO_LONG,
    UNKNOWN_ORDER,
    UNKNOWN_CURSOR,
    TOO_MANY_TICKETS,
    *sorted(SYSTEM_MESSAGES),
)

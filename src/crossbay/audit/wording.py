"""How a record reads to the customer: English message ids, translated by web/translations."""

from __future__ import annotations

from typing import Any

from crossbay.audit import service as audit
from crossbay.audit.models import AuditEvent
from crossbay.i18n import translate

ACTION_TITLES: dict[str, str] = {
    audit.SIGNIN_NEW_DEVICE: "Signed in on a new device",
    audit.PASSWORD_SET: "Login password set",
    audit.PASSWORD_CHANGED: "Login password changed",
    audit.PIN_SET: "Payment PIN set",
    audit.PIN_CHANGED: "Payment PIN changed",
    audit.IDENTITY_REGISTERED: "Real-name identity registered",
    audit.IDENTITY_CHANGED: "Real-name identity updated",
    audit.PREFERRED_PAYMENT_CHANGED: "Preferred way to pay changed",
    audit.TICKET_ASSIGNED: "Support took up your request",
    audit.TICKET_REPLIED: "Support replied to your request",
    audit.TICKET_STATUS_CHANGED: "Support updated your request",
}
OTHER_ACTION = "Account change"

SIGNIN_METHODS = {"code": "With a verification code", "password": "With your password"}
PIN_PROOFS = {
    "password": "Confirmed with your login password",
    "code": "Confirmed with a code sent to your phone",
}
FIELD_NAMES = {
    "full_name": "Full name",
    "document_type": "Document type",
    "document_number": "Document number",
    "date_of_birth": "Date of birth",
}
PAYMENT_METHOD_NAMES = {"card": "Card", "alipay": "Alipay", "wechatpay": "WeChat Pay", "wallet": "Wallet"}
NOT_CHOSEN = "Not chosen"
CHANGED_FIELDS = "Changed: {fields}"
FROM_TO = "{before} → {after}"
WITH_DETAIL = "{title}: {detail}"
FIELD_SEPARATOR = ", "

ALL: tuple[str, ...] = (
    *ACTION_TITLES.values(),
    OTHER_ACTION,
    *SIGNIN_METHODS.values(),
    *PIN_PROOFS.values(),
    *FIELD_NAMES.values(),
    *PAYMENT_METHOD_NAMES.values(),
    NOT_CHOSEN,
    CHANGED_FIELDS,
    WITH_DETAIL,
    FIELD_SEPARATOR,
)


def title(event: AuditEvent, language: str) -> str:
    return translate(language, ACTION_TITLES.get(event.action, OTHER_ACTION))


def specifics(event: AuditEvent, language: str) -> str | None:
    """The part of a record worth a sentence: how it was done, or what changed (never a secret)."""

    def _(message: str, **values: Any) -> str:
        text = translate(language, message)
        return text.format(**values) if values else text

    details = event.details or {}
    changes = {c["field"]: c for c in details.get("changes", []) if isinstance(c, dict) and "field" in c}
    if event.action == audit.SIGNIN_NEW_DEVICE and details.get("method") in SIGNIN_METHODS:
        return _(SIGNIN_METHODS[details["method"]])
    if event.action in (audit.PIN_SET, audit.PIN_CHANGED) and details.get("proof") in PIN_PROOFS:
        return _(PIN_PROOFS[details["proof"]])
    if event.action == audit.PREFERRED_PAYMENT_CHANGED and "payment_method" in changes:
        change = changes["payment_method"]

        def method(value: object) -> str:
            return _(PAYMENT_METHOD_NAMES.get(str(value), NOT_CHOSEN)) if value else _(NOT_CHOSEN)

        return FROM_TO.format(before=method(change.get("before")), after=method(change.get("after")))
    if event.action == audit.IDENTITY_CHANGED:
        fields = [_(FIELD_NAMES[name]) for name in FIELD_NAMES if name in changes]
        if fields:
            return _(CHANGED_FIELDS, fields=_(FIELD_SEPARATOR).join(fields))
    return None


def detail(event: AuditEvent, language: str) -> str:
    """One line: the title, and the specifics if there are any."""
    said = specifics(event, language)
    heading = title(event, language)
    return translate(language, WITH_DETAIL).format(title=heading, detail=said) if said else heading

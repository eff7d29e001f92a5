"""Phone numbers we serve: Hong Kong, Macau and mainland China, as E.164."""

from __future__ import annotations

import phonenumbers

from crossbay.errors import FieldProblem
from crossbay.identity.errors import InvalidPhoneNumber

ALLOWED_REGIONS = {"HK", "MO", "CN"}
_MOBILE_TYPES = {phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE}


def normalize_phone(raw: str) -> str:
    """E.164 for +852/+853/+86; a bare local number is taken as Hong Kong's."""
    text = raw.strip()
    try:
        parsed = phonenumbers.parse(text, None if text.startswith("+") else "HK")
    except phonenumbers.NumberParseException:
        raise _invalid() from None
    region = phonenumbers.region_code_for_number(parsed)
    if (
        region not in ALLOWED_REGIONS
        or not phonenumbers.is_valid_number(parsed)
        # A sign-in code goes by SMS: a landline cannot receive it.
        or phonenumbers.number_type(parsed) not in _MOBILE_TYPES
    ):
        raise _invalid()
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def mask_phone(phone: str) -> str:
    """+85291234567 → +852 9***4567: enough for the owner to recognise it."""
    parsed = phonenumbers.parse(phone, None)
    national = phonenumbers.national_significant_number(parsed)
    return f"+{parsed.country_code} {national[0]}{'*' * (len(national) - 5)}{national[-4:]}"


def _invalid() -> InvalidPhoneNumber:
    return InvalidPhoneNumber(
        errors=[
            FieldProblem("phone", "invalid_phone_number", "Use a Hong Kong, Macau or mainland China number")
        ]
    )

"""Identity documents accepted for real-name registration, and the checks a number must pass.

Pure functions: the services store what ``check_document`` returns (the normalized
number) and show it through ``crossbay.kyc.masking``.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date
from enum import StrEnum

from stdnum.cn import ric
from stdnum.exceptions import ValidationError

from crossbay.errors import FieldProblem, ValidationFailed
from crossbay.kyc.errors import GuardianRequired, InvalidDocumentNumber


class DocumentType(StrEnum):
    HKID = "hkid"
    PRC_ID = "prc_id"
    MACAU_ID = "macau_id"
    HK_MACAU_PERMIT = "hk_macau_permit"
    PASSPORT = "passport"


GUARDIAN_AGE = 16
EARLIEST_BIRTH_DATE = date(1900, 1, 1)
FULL_NAME_MAX = 100

# Patterns over the normalized form. `[0-9]`, never `\d`: `\d` also matches Arabic-Indic
# and other Unicode digits, which `int()` would then happily read.
_HKID_BODY = re.compile(r"[A-Z]{1,2}[0-9]{6}")
_HKID = re.compile(r"[A-Z]{1,2}[0-9]{6}[0-9A]")
_PRC = re.compile(r"[0-9]{17}[0-9X]")
_MACAU = re.compile(r"[157][0-9]{7}")
_PERMIT = re.compile(r"[HM](?:[0-9]{8}|[0-9]{10})")
_PASSPORT = re.compile(r"[A-Z0-9]{5,20}")
_FORMATS = {
    DocumentType.HKID: _HKID,
    DocumentType.PRC_ID: _PRC,
    DocumentType.MACAU_ID: _MACAU,
    DocumentType.HK_MACAU_PERMIT: _PERMIT,
    DocumentType.PASSPORT: _PASSPORT,
}
_SEPARATORS = re.compile(r"[\s\-]+")
# Only a balanced trailing "(c)" is the printed check digit; "A123456(3" stays malformed.
_PRINTED_CHECK = re.compile(r"(.+)\(([0-9A-Z])\)")

# GB/T 2260 province-level codes, plus 81/82/83 of the residence permits for Hong Kong,
# Macau and Taiwan residents. Deliberately not stdnum's county table (``ric.is_valid``):
# it rejects real numbers whose county was created after the holder's birth year, e.g.
# anyone born before 1983 who took a Shenzhen Nanshan (440305) hukou, and it lags behind
# code changes (python-stdnum #442).
_PRC_PROVINCES = frozenset(
    (
        *("11", "12", "13", "14", "15"),  # north
        *("21", "22", "23"),  # north-east
        *("31", "32", "33", "34", "35", "36", "37"),  # east
        *("41", "42", "43", "44", "45", "46"),  # central and south
        *("50", "51", "52", "53", "54"),  # south-west
        *("61", "62", "63", "64", "65"),  # north-west
        *("71", "81", "82", "83"),  # Taiwan, and the residence permits
    )
)


def normalize_document_number(doc_type: DocumentType, raw: str) -> str:
    """The canonical stored form: no spaces, hyphens or check-digit parentheses; upper case.

    It does not validate; a malformed number stays malformed and fails the format check.
    """
    # NFKC folds the full-width letters, digits and parentheses a Chinese IME produces.
    number = _SEPARATORS.sub("", unicodedata.normalize("NFKC", raw)).upper()
    if doc_type in (DocumentType.HKID, DocumentType.MACAU_ID) and (m := _PRINTED_CHECK.fullmatch(number)):
        number = m[1] + m[2]
    return number


def hkid_check_digit(prefix_and_digits: str) -> str:
    """The check character of an HKID body such as ``A123456`` or ``AB987654``."""
    if not _HKID_BODY.fullmatch(prefix_and_digits):
        raise ValueError("an HKID body is one or two upper-case letters and six digits")
    body = prefix_and_digits.rjust(8)
    # Space (a padded one-letter prefix) counts 36, letters A=10 … Z=35.
    values = [36 if c == " " else int(c, 36) for c in body]
    r = sum(w * v for w, v in zip(range(9, 1, -1), values, strict=True)) % 11
    return "0" if r == 0 else "A" if r == 1 else str(11 - r)


def hkid_is_valid(number: str) -> bool:
    """Format and check digit, with or without the parentheses, in any case."""
    return _is_valid(DocumentType.HKID, number)


def prc_id_is_valid(number: str) -> bool:
    """Format, province, check digit and a real calendar date in digits 7–14."""
    return _is_valid(DocumentType.PRC_ID, number)


def age_on(dob: date, day: date) -> int:
    """Whole years on ``day``. A 29 February birthday comes round on 1 March in common years."""
    return day.year - dob.year - ((day.month, day.day) < (dob.month, dob.day))


def clean_full_name(raw: str) -> str:
    """The name as stored: trimmed, inner whitespace collapsed; raises ValidationFailed if unusable."""
    name, problem = _full_name(raw)
    if problem:
        raise ValidationFailed(errors=[problem])
    return name


def check_document(
    doc_type: DocumentType, raw_number: str, date_of_birth: date, *, today: date, full_name: str
) -> str:
    """A registrable identity: sane name and birth date, a well-formed number, aged 16 or over."""
    problems = [p for p in (_full_name(full_name)[1], _birth_date_problem(date_of_birth, today)) if p]
    if problems:
        raise ValidationFailed(errors=problems)

    number = normalize_document_number(doc_type, raw_number)
    if problem := _document_problem(doc_type, number):
        raise InvalidDocumentNumber(errors=[problem])
    if doc_type == DocumentType.PRC_ID and ric.get_birth_date(number) != date_of_birth:
        # Either field may hold the typo, so both are flagged.
        message = "The birth date in the ID number does not match the date of birth given."
        raise InvalidDocumentNumber(
            errors=[
                FieldProblem(field="document_number", code="birth_date_mismatch", message=message),
                FieldProblem(field="date_of_birth", code="birth_date_mismatch", message=message),
            ]
        )

    if age_on(date_of_birth, today) < GUARDIAN_AGE:
        raise GuardianRequired(
            errors=[
                FieldProblem(
                    field="date_of_birth",
                    code="guardian_required",
                    message=f"Holders under {GUARDIAN_AGE} must be registered by a parent or guardian.",
                )
            ]
        )
    return number


def display_number(doc_type: DocumentType, normalized: str) -> str:
    """The printed form, check digit in parentheses where the card shows it so."""
    if doc_type in (DocumentType.HKID, DocumentType.MACAU_ID) and len(normalized) > 1:
        return f"{normalized[:-1]}({normalized[-1]})"
    return normalized


_LABELS = {
    DocumentType.HKID: "Hong Kong identity card",
    DocumentType.PRC_ID: "resident identity card",
    DocumentType.MACAU_ID: "Macau identity card",
    DocumentType.HK_MACAU_PERMIT: "Mainland Travel Permit",
    DocumentType.PASSPORT: "passport",
}


def _is_valid(doc_type: DocumentType, number: str) -> bool:
    return _document_problem(doc_type, normalize_document_number(doc_type, number)) is None


def _document_problem(doc_type: DocumentType, number: str) -> FieldProblem | None:
    if not _FORMATS[doc_type].fullmatch(number) or (
        doc_type == DocumentType.PRC_ID and number[:2] not in _PRC_PROVINCES
    ):
        return _number_problem("invalid_format", f"This is not a valid {_LABELS[doc_type]} number.")
    if doc_type == DocumentType.HKID and hkid_check_digit(number[:-1]) != number[-1]:
        return _number_problem("invalid_check_digit", "The check digit of this HKID number is wrong.")
    if doc_type == DocumentType.PRC_ID:
        if ric.calc_check_digit(number) != number[-1]:
            return _number_problem("invalid_check_digit", "The check digit of this ID number is wrong.")
        try:
            ric.get_birth_date(number)
        except ValidationError:
            return _number_problem(
                "invalid_birth_date", "The birth date inside this ID number is not a date."
            )
    return None


def _number_problem(code: str, message: str) -> FieldProblem:
    return FieldProblem(field="document_number", code=code, message=message)


def _full_name(raw: str) -> tuple[str, FieldProblem | None]:
    name = " ".join(raw.split())

    def problem(code: str, message: str) -> tuple[str, FieldProblem]:
        return name, FieldProblem(field="full_name", code=code, message=message)

    if not 1 <= len(name) <= FULL_NAME_MAX:
        return problem("invalid_length", f"The name must be 1 to {FULL_NAME_MAX} characters long.")
    # Cc/Cf/Cs: control, invisible formatting (bidi overrides) and lone surrogates. Private-use
    # and not-yet-assigned code points stay allowed: Hong Kong names still use HKSCS
    # private-use characters and the newest CJK extensions postdate our Unicode tables.
    if any(c.isdigit() or unicodedata.category(c) in ("Cc", "Cf", "Cs") for c in name):
        return problem("invalid_characters", "The name may not contain digits or control characters.")
    return name, None


def _birth_date_problem(dob: date, today: date) -> FieldProblem | None:
    if dob > today:
        return FieldProblem(
            field="date_of_birth", code="in_future", message="The date of birth is in the future."
        )
    if dob < EARLIEST_BIRTH_DATE:
        return FieldProblem(
            field="date_of_birth", code="too_early", message="The date of birth is before 1900."
        )
    return None

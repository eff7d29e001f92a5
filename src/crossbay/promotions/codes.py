"""Coupon codes people can read aloud and type: no 0/O or 1/I, and case does not matter."""

from __future__ import annotations

import re
import secrets

# 32 symbols: the digits and capitals without 0, O, 1 and I, which are read one for the other.
ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
GENERATED_LENGTH = 10  # 32**10 ≈ 10**15: a guessed code is as good as none
_SEPARATORS = re.compile(r"[\s\-_]+")
_CODE = re.compile(r"[0-9A-Z]{3,32}")
_PREFIX = re.compile(r"[0-9A-Z]{1,22}")  # leaves room for the generated part within 32


def normalize_code(text: str) -> str | None:
    """What the customer typed, as stored: upper case, without spaces or dashes; None if no code can be."""
    code = _SEPARATORS.sub("", text).upper()
    return code if _CODE.fullmatch(code) else None


def check_code_prefix(text: str) -> str:
    """A prefix staff put in front of generated codes (SUMMER): letters and digits, stored upper case."""
    prefix = _SEPARATORS.sub("", text).upper()
    if not _PREFIX.fullmatch(prefix):
        raise ValueError("a code prefix is 1-22 letters and digits")
    return prefix


def generate_code(prefix: str = "") -> str:
    return prefix + "".join(secrets.choice(ALPHABET) for _ in range(GENERATED_LENGTH))


def check_public_code(code: str) -> str:
    """A code staff choose (WELCOME10): letters and digits only, stored upper case."""
    normalized = normalize_code(code)
    if normalized is None:
        raise ValueError("a coupon code is 3-32 letters and digits")
    return normalized

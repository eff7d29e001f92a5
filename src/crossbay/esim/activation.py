"""Activation codes, install links, QR images and the check digits of ICCIDs and EIDs (pure).

Formats follow GSMA SGP.22 §4.1 (activation code) and ITU-T E.118 (ICCID).
"""

from __future__ import annotations

import io
from urllib.parse import quote

import segno

LPA_PREFIX = "LPA:"
# Activation code format version; the only one SGP.22 defines.
AC_FORMAT = "1"
_DELIMITER = "$"

IOS_INSTALL_URL = "https://esimsetup.apple.com/esim_qrcode_provisioning?carddata="
ANDROID_INSTALL_URL = "https://esimsetup.android.com/esim_qrcode_provisioning?carddata="


def activation_code(smdp_address: str, matching_id: str) -> str:
    """``LPA:1$<SM-DP+ address>$<matching id>``; ``$`` separates fields, so no field may hold one."""
    for name, value in (("smdp_address", smdp_address), ("matching_id", matching_id)):
        if not value:
            raise ValueError(f"{name} is empty")
        if _DELIMITER in value:
            raise ValueError(f"{name} contains '$'")
    return f"{LPA_PREFIX}{AC_FORMAT}${smdp_address}${matching_id}"


def parse_activation_code(text: str) -> tuple[str, str]:
    """(SM-DP+ address, matching id) from an activation code, with or without the ``LPA:`` prefix."""
    code = text.strip()
    if code[: len(LPA_PREFIX)].upper() == LPA_PREFIX:
        code = code[len(LPA_PREFIX) :]
    fields = code.split(_DELIMITER)
    # Format, address, matching id, then optionally the SM-DP+ OID and the
    # confirmation-code-required flag.
    if not 3 <= len(fields) <= 5 or fields[0] != AC_FORMAT:
        raise ValueError("not an activation code")
    smdp_address, matching_id = fields[1], fields[2]
    if not smdp_address or not matching_id:
        raise ValueError("activation code lacks an SM-DP+ address or matching id")
    return smdp_address, matching_id


def install_links(code: str) -> dict[str, str]:
    """One-tap install links: the whole code is percent-encoded, ``:`` and ``$`` included."""
    carddata = quote(code, safe="")
    return {"ios": IOS_INSTALL_URL + carddata, "android": ANDROID_INSTALL_URL + carddata}


def _qr(code: str) -> segno.QRCode:
    # Level M is what operators print: it survives a scuffed screen without
    # making the symbol too dense for older phone cameras.
    return segno.make_qr(code, error="m", boost_error=False)


def qr_png(code: str, scale: int = 8) -> bytes:
    out = io.BytesIO()
    _qr(code).save(out, kind="png", scale=scale, border=4)
    return out.getvalue()


def qr_svg(code: str) -> bytes:
    out = io.BytesIO()
    _qr(code).save(out, kind="svg", border=4)
    return out.getvalue()


def luhn_check_digit(digits: str) -> str:
    """The Luhn (mod 10) digit that makes ``digits + check`` valid."""
    if not digits.isascii() or not digits.isdigit():
        raise ValueError("digits only")
    total = 0
    # Walking from the right, the digit next to the (future) check digit is doubled.
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2 == 0:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return str((10 - total % 10) % 10)


def _luhn_valid(digits: str) -> bool:
    return luhn_check_digit(digits[:-1]) == digits[-1]


def iccid_is_valid(iccid: str) -> bool:
    """19–20 digits, telecom industry prefix ``89``, Luhn check digit last."""
    return (
        iccid.isascii()
        and iccid.isdigit()
        and 19 <= len(iccid) <= 20
        and iccid.startswith("89")
        and _luhn_valid(iccid)
    )


def eid_is_valid(eid: str) -> bool:
    """32 digits whose value is 1 modulo 97 (the ISO 7064 check SGP.29 uses)."""
    return eid.isascii() and eid.isdigit() and len(eid) == 32 and int(eid) % 97 == 1

from __future__ import annotations

import struct
import xml.etree.ElementTree as ET

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crossbay.esim.activation import (
    activation_code,
    eid_is_valid,
    iccid_is_valid,
    install_links,
    luhn_check_digit,
    parse_activation_code,
    qr_png,
    qr_svg,
)

CODE = "LPA:1$smdp.example.com$K2ABC-DEF12-GH345-JK678"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class TestActivationCode:
    def test_format(self) -> None:
        assert activation_code("smdp.example.com", "K2ABC-DEF12-GH345-JK678") == CODE

    @pytest.mark.parametrize(
        ("smdp", "matching_id"), [("sm$dp", "ABC"), ("smdp", "A$BC"), ("", "ABC"), ("smdp", "")]
    )
    def test_dollar_or_empty_field_is_refused(self, smdp: str, matching_id: str) -> None:
        with pytest.raises(ValueError):
            activation_code(smdp, matching_id)

    @pytest.mark.parametrize(
        "text",
        [
            CODE,
            CODE[4:],
            f"  {CODE}\n",
            "lpa:1$smdp.example.com$K2ABC-DEF12-GH345-JK678",
            "LPA:1$smdp.example.com$K2ABC-DEF12-GH345-JK678$1.3.6.1.4.1.31746$1",
        ],
    )
    def test_parse(self, text: str) -> None:
        assert parse_activation_code(text) == ("smdp.example.com", "K2ABC-DEF12-GH345-JK678")

    @pytest.mark.parametrize(
        "text", ["", "LPA:", "LPA:2$smdp$ABC", "LPA:1$smdp", "LPA:1$$ABC", "LPA:1$smdp$", "LPA:1$a$b$c$d$e"]
    )
    def test_parse_refuses_what_is_not_a_code(self, text: str) -> None:
        with pytest.raises(ValueError):
            parse_activation_code(text)


class TestInstallLinks:
    def test_links_carry_the_whole_code_percent_encoded(self) -> None:
        encoded = "LPA%3A1%24smdp.example.com%24K2ABC-DEF12-GH345-JK678"
        assert install_links(CODE) == {
            "ios": f"https://esimsetup.apple.com/esim_qrcode_provisioning?carddata={encoded}",
            "android": f"https://esimsetup.android.com/esim_qrcode_provisioning?carddata={encoded}",
        }

    def test_slashes_and_plus_are_encoded_too(self) -> None:
        assert install_links("LPA:1$a/b+c$X")["ios"].endswith("carddata=LPA%3A1%24a%2Fb%2Bc%24X")


def _png_size(png: bytes) -> tuple[int, int]:
    width, height = struct.unpack(">II", png[16:24])  # IHDR follows the signature
    return width, height


class TestQr:
    def test_png(self) -> None:
        png = qr_png(CODE)
        assert png.startswith(PNG_SIGNATURE) and len(png) > 100
        width, height = _png_size(png)
        assert width == height and width % 8 == 0

    def test_scale_sets_the_module_size(self) -> None:
        small, large = _png_size(qr_png(CODE, scale=4)), _png_size(qr_png(CODE, scale=8))
        assert large[0] == 2 * small[0]

    def test_svg_is_xml(self) -> None:
        root = ET.fromstring(qr_svg(CODE))
        assert root.tag.endswith("svg")


class TestLuhn:
    def test_known_vector(self) -> None:
        assert luhn_check_digit("7992739871") == "3"

    def test_non_digits_are_refused(self) -> None:
        with pytest.raises(ValueError):
            luhn_check_digit("12a4")

    @given(st.text(alphabet="0123456789", min_size=1, max_size=30))
    def test_payload_with_its_check_digit_validates(self, payload: str) -> None:
        full = payload + luhn_check_digit(payload)
        assert luhn_check_digit(full[:-1]) == full[-1]

    @given(st.text(alphabet="0123456789", min_size=1, max_size=30), st.data())
    def test_any_single_digit_change_is_caught(self, payload: str, data: st.DataObject) -> None:
        full = payload + luhn_check_digit(payload)
        index = data.draw(st.integers(min_value=0, max_value=len(full) - 1))
        digit = data.draw(st.sampled_from([d for d in "0123456789" if d != full[index]]))
        changed = full[:index] + digit + full[index + 1 :]
        assert luhn_check_digit(changed[:-1]) != changed[-1]


class TestIccid:
    @pytest.mark.parametrize("body", ["898520000000000000", "8985200000000000001"])
    def test_19_and_20_digits_with_check_digit(self, body: str) -> None:
        assert iccid_is_valid(body + luhn_check_digit(body))

    @given(st.text(alphabet="0123456789", min_size=16, max_size=17))
    def test_every_89_number_with_its_check_digit(self, tail: str) -> None:
        body = "89" + tail
        assert iccid_is_valid(body + luhn_check_digit(body))

    @pytest.mark.parametrize(
        "iccid",
        [
            "8985200000000000001" + str((int(luhn_check_digit("8985200000000000001")) + 1) % 10),  # bad check
            "7985200000000000001" + luhn_check_digit("7985200000000000001"),  # not 89
            "89852000000000000" + luhn_check_digit("89852000000000000"),  # 18 digits
            "898520000000000000001" + luhn_check_digit("898520000000000000001"),  # 22 digits
            "8985200000000000001F",
            "",
        ],
    )
    def test_invalid(self, iccid: str) -> None:
        assert not iccid_is_valid(iccid)


class TestEid:
    def test_valid(self) -> None:
        assert eid_is_valid("89049032123451234512345678901235")

    @given(st.text(alphabet="0123456789", min_size=30, max_size=30))
    def test_iso_7064_check_digits_validate(self, prefix: str) -> None:
        check = 98 - int(prefix + "00") % 97
        assert eid_is_valid(f"{prefix}{check:02d}")

    @pytest.mark.parametrize(
        "eid",
        [
            "89049032123451234512345678901234",
            "8904903212345123451234567890123",
            "8904903212345123451234567890123X",
        ],
    )
    def test_invalid(self, eid: str) -> None:
        assert not eid_is_valid(eid)

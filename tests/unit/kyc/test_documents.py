from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from crossbay.errors import ValidationFailed
from crossbay.kyc.documents import (
    DocumentType,
    age_on,
    check_document,
    clean_full_name,
    display_number,
    hkid_check_digit,
    hkid_is_valid,
    normalize_document_number,
    prc_id_is_valid,
)
from crossbay.kyc.errors import GuardianRequired, InvalidDocumentNumber

TODAY = date(2026, 11, 26)
ADULT = date(1990, 5, 17)
NAME = "Chan Tai Man"


# Reference check digits written straight from PROTOCOLS.md, independently of the module.
def reference_hkid_check(body: str) -> str:
    padded = body.rjust(8)
    values = [36 if c == " " else ord(c) - ord("A") + 10 if c.isalpha() else int(c) for c in padded]
    return "0A987654321"[sum(v * w for v, w in zip(values, [9, 8, 7, 6, 5, 4, 3, 2], strict=True)) % 11]


def reference_prc_check(first17: str) -> str:
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    return "10X98765432"[sum(int(d) * w for d, w in zip(first17, weights, strict=True)) % 11]


def make_prc(region: str, dob: date, serial: str = "001") -> str:
    first17 = f"{region}{dob:%Y%m%d}{serial}"
    return first17 + reference_prc_check(first17)


hkid_bodies = st.from_regex(r"[A-Z]{1,2}[0-9]{6}", fullmatch=True)
# Beijing Chaoyang, Shenzhen Nanshan, Shanghai Pudong, and the Hong Kong residents' permit.
prc_regions = st.sampled_from(["110105", "440305", "310115", "810000"])
birth_dates = st.dates(min_value=date(1900, 1, 1), max_value=TODAY)
check_chars = "0123456789A"


def check(doc_type: DocumentType, number: str, dob: date = ADULT, *, today: date = TODAY) -> str:
    return check_document(doc_type, number, dob, today=today, full_name=NAME)


def problems(excinfo: pytest.ExceptionInfo[Exception]) -> list[tuple[str, str]]:
    return [(p.field, p.code) for p in getattr(excinfo.value, "errors", [])]


class TestHkid:
    @pytest.mark.parametrize(
        "number",
        [
            "A123456(3)",
            "A1234563",
            "a123456(3)",
            " A 123456 (3) ",
            "A-123456-3",
            "AB987654(3)",
            "C000005(A)",
            "c000005a",
            "C000013(0)",
            "Ａ１２３４５６（３）",
        ],
    )
    def test_accepts_valid_numbers_in_any_common_writing(self, number: str) -> None:
        assert hkid_is_valid(number)

    @pytest.mark.parametrize(
        "number", ["A123456(4)", "A123456(A)", "AB987654(2)", "C000005(0)", "C000013(A)"]
    )
    def test_rejects_a_wrong_check_digit(self, number: str) -> None:
        assert not hkid_is_valid(number)

    @pytest.mark.parametrize(
        "number",
        [
            "",
            "A12345(3)",
            "ABC123456(3)",
            "1234567(3)",
            "A123456(3",
            "A123456)3(",
            "A(123456)3",
            "A123456(B)",
            "A١٢٣٤٥٦(3)",
            "A123456(3)X",
        ],
    )
    def test_rejects_malformed_numbers(self, number: str) -> None:
        assert not hkid_is_valid(number)

    @given(hkid_bodies)
    def test_any_body_with_its_check_digit_validates(self, body: str) -> None:
        check_digit = reference_hkid_check(body)
        assert hkid_check_digit(body) == check_digit
        assert hkid_is_valid(body + check_digit)
        assert hkid_is_valid(f"{body}({check_digit})".lower())

    @given(hkid_bodies, st.sampled_from(check_chars))
    def test_any_other_check_digit_invalidates(self, body: str, wrong: str) -> None:
        assume(wrong != reference_hkid_check(body))
        assert not hkid_is_valid(f"{body}({wrong})")

    @pytest.mark.parametrize("body", ["", "A12345", "ABC123456", "a123456", "1234567"])
    def test_check_digit_of_a_malformed_body_is_refused(self, body: str) -> None:
        with pytest.raises(ValueError):
            hkid_check_digit(body)


class TestPrcId:
    @pytest.mark.parametrize("number", ["11010519491231002X", "11010519491231002x", "110105 19491231 002X"])
    def test_accepts_the_textbook_example(self, number: str) -> None:
        assert prc_id_is_valid(number)

    def test_accepts_a_county_code_younger_than_its_holder(self) -> None:
        # Shenzhen Nanshan (440305) dates from 1983; stdnum's county table refuses this real shape.
        assert prc_id_is_valid("440305197001010019")

    def test_accepts_a_hong_kong_residents_permit_number(self) -> None:
        assert prc_id_is_valid("810000199001010019")

    @pytest.mark.parametrize(
        "number",
        [
            "110105194912310021",  # wrong check digit
            "999999199001010016",  # no such province, right check digit
            "11010519900230001X",  # 30 February, right check digit
            "11010519491231002",
            "11010519491231002XX",
            "X10105194912310021",
        ],
    )
    def test_rejects_invalid_numbers(self, number: str) -> None:
        assert not prc_id_is_valid(number)

    @given(prc_regions, birth_dates, st.from_regex(r"[0-9]{3}", fullmatch=True))
    def test_any_number_with_its_check_digit_validates(self, region: str, dob: date, serial: str) -> None:
        assert prc_id_is_valid(make_prc(region, dob, serial))

    @given(prc_regions, birth_dates, st.sampled_from("0123456789X"))
    def test_any_other_check_digit_invalidates(self, region: str, dob: date, wrong: str) -> None:
        number = make_prc(region, dob)
        assume(wrong != number[-1])
        assert not prc_id_is_valid(number[:-1] + wrong)


class TestNormalizeDocumentNumber:
    @pytest.mark.parametrize(
        ("doc_type", "raw", "expected"),
        [
            (DocumentType.HKID, "a123456(3)", "A1234563"),
            (DocumentType.HKID, " AB 987654 (3) ", "AB9876543"),
            (DocumentType.HKID, "Ａ１２３４５６（３）", "A1234563"),
            (DocumentType.HKID, "A123456(3", "A123456(3"),
            (DocumentType.PRC_ID, "110105-19491231-002x", "11010519491231002X"),
            (DocumentType.MACAU_ID, "1234567(8)", "12345678"),
            (DocumentType.HK_MACAU_PERMIT, "h-1234 5678", "H12345678"),
            (DocumentType.PASSPORT, " e1234567\t", "E1234567"),
            (DocumentType.PASSPORT, "K1234(5)", "K1234(5)"),
        ],
    )
    def test_gives_the_canonical_form(self, doc_type: DocumentType, raw: str, expected: str) -> None:
        assert normalize_document_number(doc_type, raw) == expected


class TestCheckDocument:
    @pytest.mark.parametrize(
        ("doc_type", "raw", "expected"),
        [
            (DocumentType.HKID, "a123456(3)", "A1234563"),
            (DocumentType.HKID, "AB987654(3)", "AB9876543"),
            (DocumentType.PRC_ID, make_prc("110105", ADULT).lower(), make_prc("110105", ADULT)),
            (DocumentType.MACAU_ID, "1234567(8)", "12345678"),
            (DocumentType.MACAU_ID, "5234567 8", "52345678"),
            (DocumentType.MACAU_ID, "7234567(0)", "72345670"),
            (DocumentType.HK_MACAU_PERMIT, "H12345678", "H12345678"),
            (DocumentType.HK_MACAU_PERMIT, "m1234567890", "M1234567890"),
            (DocumentType.PASSPORT, "e 1234567", "E1234567"),
            (DocumentType.PASSPORT, "K1234", "K1234"),
            (DocumentType.PASSPORT, "X" * 20, "X" * 20),
        ],
    )
    def test_returns_the_normalized_number(self, doc_type: DocumentType, raw: str, expected: str) -> None:
        assert check(doc_type, raw) == expected

    @pytest.mark.parametrize(
        ("doc_type", "raw"),
        [
            (DocumentType.HKID, "A12345(3)"),
            (DocumentType.PRC_ID, "99999919900517001X"),
            (DocumentType.MACAU_ID, "2234567(8)"),
            (DocumentType.MACAU_ID, "123456(7)"),
            (DocumentType.MACAU_ID, "1234567(8"),
            (DocumentType.HK_MACAU_PERMIT, "H1234567"),
            (DocumentType.HK_MACAU_PERMIT, "H123456789"),
            (DocumentType.HK_MACAU_PERMIT, "X12345678"),
            (DocumentType.PASSPORT, "K123"),
            (DocumentType.PASSPORT, "X" * 21),
            (DocumentType.PASSPORT, "K1234(5)"),
            (DocumentType.PASSPORT, "E1234.567"),
        ],
    )
    def test_refuses_a_malformed_number(self, doc_type: DocumentType, raw: str) -> None:
        with pytest.raises(InvalidDocumentNumber) as excinfo:
            check(doc_type, raw)
        assert problems(excinfo) == [("document_number", "invalid_format")]

    @pytest.mark.parametrize(
        ("doc_type", "raw"), [(DocumentType.HKID, "A123456(4)"), (DocumentType.PRC_ID, "110105194912310021")]
    )
    def test_refuses_a_wrong_check_digit(self, doc_type: DocumentType, raw: str) -> None:
        with pytest.raises(InvalidDocumentNumber) as excinfo:
            check(doc_type, raw, date(1949, 12, 31))
        assert problems(excinfo) == [("document_number", "invalid_check_digit")]

    def test_refuses_a_prc_number_whose_birth_date_is_not_a_date(self) -> None:
        with pytest.raises(InvalidDocumentNumber) as excinfo:
            check(DocumentType.PRC_ID, "11010519900230001X", date(1990, 2, 28))
        assert problems(excinfo) == [("document_number", "invalid_birth_date")]

    def test_accepts_a_prc_number_carrying_the_date_of_birth(self) -> None:
        assert check(DocumentType.PRC_ID, "11010519491231002X", date(1949, 12, 31)) == "11010519491231002X"

    @given(prc_regions, st.dates(min_value=date(1900, 1, 1), max_value=date(2010, 1, 1)), st.integers(1, 400))
    def test_refuses_a_prc_number_with_another_birth_date(self, region: str, dob: date, shift: int) -> None:
        with pytest.raises(InvalidDocumentNumber) as excinfo:
            check(DocumentType.PRC_ID, make_prc(region, dob), dob + timedelta(days=shift))
        assert problems(excinfo) == [
            ("document_number", "birth_date_mismatch"),
            ("date_of_birth", "birth_date_mismatch"),
        ]

    def test_other_documents_do_not_encode_a_birth_date(self) -> None:
        assert check(DocumentType.HKID, "A123456(3)", date(2001, 2, 3)) == "A1234563"


class TestGuardian:
    @pytest.mark.parametrize(
        ("dob", "today"),
        [
            (date(2010, 11, 27), TODAY),  # sixteenth birthday tomorrow
            (TODAY, TODAY),
            (date(2012, 2, 29), date(2028, 2, 28)),
        ],
    )
    def test_under_sixteen_needs_a_guardian(self, dob: date, today: date) -> None:
        with pytest.raises(GuardianRequired) as excinfo:
            check(DocumentType.PASSPORT, "E1234567", dob, today=today)
        assert problems(excinfo) == [("date_of_birth", "guardian_required")]

    @pytest.mark.parametrize(
        ("dob", "today"), [(date(2010, 11, 26), TODAY), (date(2012, 2, 29), date(2028, 2, 29))]
    )
    def test_sixteen_today_registers_alone(self, dob: date, today: date) -> None:
        assert check(DocumentType.PASSPORT, "E1234567", dob, today=today) == "E1234567"

    def test_a_child_prc_number_still_needs_a_guardian(self) -> None:
        dob = date(2012, 2, 29)
        with pytest.raises(GuardianRequired):
            check(DocumentType.PRC_ID, make_prc("440305", dob), dob)


class TestBirthDateAndName:
    @pytest.mark.parametrize(
        ("dob", "code"), [(TODAY + timedelta(days=1), "in_future"), (date(1899, 12, 31), "too_early")]
    )
    def test_refuses_an_impossible_date_of_birth(self, dob: date, code: str) -> None:
        with pytest.raises(ValidationFailed) as excinfo:
            check(DocumentType.PASSPORT, "E1234567", dob)
        assert problems(excinfo) == [("date_of_birth", code)]

    def test_accepts_the_first_day_of_1900(self) -> None:
        assert check(DocumentType.PASSPORT, "E1234567", date(1900, 1, 1)) == "E1234567"

    @pytest.mark.parametrize(
        ("name", "code"),
        [
            ("", "invalid_length"),
            (" \t ", "invalid_length"),
            ("A" * 101, "invalid_length"),
            ("Chan Tai Man 2", "invalid_characters"),
            ("陳大文３", "invalid_characters"),
            ("Chan\x00Tai", "invalid_characters"),
            ("Chan\u202eTai", "invalid_characters"),
        ],
    )
    def test_refuses_an_unusable_name(self, name: str, code: str) -> None:
        with pytest.raises(ValidationFailed) as excinfo:
            check_document(DocumentType.PASSPORT, "E1234567", ADULT, today=TODAY, full_name=name)
        assert problems(excinfo) == [("full_name", code)]

    @pytest.mark.parametrize(
        "name", ["陳大文", "Chan Tai-man", "O'Brien, Siobhán", "A" * 100, "陳\ue000文", "阿卜杜拉·艾买提"]
    )
    def test_accepts_real_names(self, name: str) -> None:
        assert check_document(DocumentType.PASSPORT, "E1234567", ADULT, today=TODAY, full_name=name)

    def test_reports_name_and_birth_date_together(self) -> None:
        with pytest.raises(ValidationFailed) as excinfo:
            check_document(DocumentType.PASSPORT, "E1234567", date(1800, 1, 1), today=TODAY, full_name="")
        assert problems(excinfo) == [("full_name", "invalid_length"), ("date_of_birth", "too_early")]

    def test_input_errors_come_before_the_number(self) -> None:
        with pytest.raises(ValidationFailed):
            check_document(DocumentType.HKID, "bad", ADULT, today=TODAY, full_name="")

    def test_clean_full_name_trims_and_collapses_whitespace(self) -> None:
        assert clean_full_name("  Chan \t Tai\u3000 Man ") == "Chan Tai Man"

    def test_clean_full_name_refuses_what_check_document_refuses(self) -> None:
        with pytest.raises(ValidationFailed) as excinfo:
            clean_full_name("Chan 2")
        assert problems(excinfo) == [("full_name", "invalid_characters")]


class TestAgeOn:
    @pytest.mark.parametrize(
        ("dob", "day", "age"),
        [
            (date(2000, 6, 15), date(2016, 6, 14), 15),
            (date(2000, 6, 15), date(2016, 6, 15), 16),
            (date(2004, 2, 29), date(2021, 2, 28), 16),
            (date(2004, 2, 29), date(2021, 3, 1), 17),
            (date(2004, 2, 29), date(2024, 2, 28), 19),
            (date(2004, 2, 29), date(2024, 2, 29), 20),
            (date(1999, 12, 31), date(2000, 1, 1), 0),
        ],
    )
    def test_counts_whole_years(self, dob: date, day: date, age: int) -> None:
        assert age_on(dob, day) == age

    @given(st.dates(min_value=date(1900, 1, 1), max_value=date(2100, 12, 31)), st.integers(1, 100))
    def test_turns_a_year_older_on_the_birthday(self, dob: date, years: int) -> None:
        assume((dob.month, dob.day) != (2, 29))
        birthday = dob.replace(year=dob.year + years)
        assert age_on(dob, birthday) == years
        assert age_on(dob, birthday - timedelta(days=1)) == years - 1


class TestDisplayNumber:
    @pytest.mark.parametrize(
        ("doc_type", "normalized", "shown"),
        [
            (DocumentType.HKID, "A1234563", "A123456(3)"),
            (DocumentType.HKID, "AB9876543", "AB987654(3)"),
            (DocumentType.HKID, "C000005A", "C000005(A)"),
            (DocumentType.MACAU_ID, "12345678", "1234567(8)"),
            (DocumentType.PRC_ID, "11010519491231002X", "11010519491231002X"),
            (DocumentType.HK_MACAU_PERMIT, "H12345678", "H12345678"),
            (DocumentType.PASSPORT, "E1234567", "E1234567"),
        ],
    )
    def test_shows_the_printed_form(self, doc_type: DocumentType, normalized: str, shown: str) -> None:
        assert display_number(doc_type, normalized) == shown

    @given(hkid_bodies)
    def test_normalizing_the_display_gives_the_number_back(self, body: str) -> None:
        number = body + reference_hkid_check(body)
        assert (
            normalize_document_number(DocumentType.HKID, display_number(DocumentType.HKID, number)) == number
        )

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crossbay.kyc.documents import DocumentType
from crossbay.kyc.masking import mask_document_number, mask_name


class TestMaskName:
    @pytest.mark.parametrize(
        ("name", "masked"),
        [
            ("陳大文", "陳*文"),
            ("陳文", "陳*"),
            ("陳", "*"),
            ("歐陽大文", "歐**文"),
            ("陳 大文", "陳*文"),
            ("陳𠮷文", "陳*文"),
            ("さくら", "さ*ら"),
            ("김민수", "김*수"),
            ("阿卜杜拉·艾买提", "阿******提"),
            ("Chan Tai Man", "C*** T** M**"),
            ("  Chan   Tai  ", "C*** T**"),
            ("Siobhán O'Brien", "S****** O******"),
            ("X", "X"),
            ("", ""),
        ],
    )
    def test_masks_as_specified(self, name: str, masked: str) -> None:
        assert mask_name(name) == masked

    @given(
        st.text(alphabet=st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF), min_size=3, max_size=10)
    )
    def test_cjk_names_keep_only_the_first_and_last_character(self, name: str) -> None:
        masked = mask_name(name)
        assert masked == name[0] + "*" * (len(name) - 2) + name[-1]

    @given(st.lists(st.from_regex(r"[A-Za-z]{2,12}", fullmatch=True), min_size=1, max_size=4))
    def test_latin_names_keep_only_initials(self, words: list[str]) -> None:
        masked = mask_name(" ".join(words))
        assert [w[0] for w in masked.split()] == [w[0] for w in words]
        assert set(masked.replace(" ", "")) - {w[0] for w in words} <= {"*"}
        assert len(masked) == len(" ".join(words))


class TestMaskDocumentNumber:
    @pytest.mark.parametrize(
        ("doc_type", "normalized", "masked"),
        [
            (DocumentType.HKID, "A1234563", "A12****(3)"),
            (DocumentType.HKID, "AB9876543", "AB98****(3)"),
            (DocumentType.HKID, "C000005A", "C00****(A)"),
            (DocumentType.PRC_ID, "11010519491231002X", "110*************2X"),
            (DocumentType.MACAU_ID, "12345678", "1*****7(8)"),
            (DocumentType.HK_MACAU_PERMIT, "H12345678", "H******78"),
            (DocumentType.HK_MACAU_PERMIT, "M1234567890", "M********90"),
            (DocumentType.PASSPORT, "E1234567", "E*****67"),
            (DocumentType.PASSPORT, "K12345", "K****5"),
            (DocumentType.PASSPORT, "K1234", "K***4"),
        ],
    )
    def test_masks_as_specified(self, doc_type: DocumentType, normalized: str, masked: str) -> None:
        assert mask_document_number(doc_type, normalized) == masked

    @pytest.mark.parametrize(
        ("doc_type", "value"),
        [
            (DocumentType.HKID, "A123"),
            (DocumentType.HKID, "A123456(3)"),
            (DocumentType.PRC_ID, "110105"),
            (DocumentType.MACAU_ID, "1234567(8)"),
            (DocumentType.PASSPORT, "K12"),
        ],
    )
    def test_hides_everything_of_an_unexpected_shape(self, doc_type: DocumentType, value: str) -> None:
        assert mask_document_number(doc_type, value) == "*" * len(value)

    @given(
        st.one_of(
            st.tuples(st.just(DocumentType.PRC_ID), st.from_regex(r"[0-9]{17}[0-9X]", fullmatch=True)),
            st.tuples(st.just(DocumentType.MACAU_ID), st.from_regex(r"[157][0-9]{7}", fullmatch=True)),
            st.tuples(
                st.just(DocumentType.HK_MACAU_PERMIT),
                st.from_regex(r"[HM]([0-9]{8}|[0-9]{10})", fullmatch=True),
            ),
            st.tuples(st.just(DocumentType.PASSPORT), st.from_regex(r"[A-Z0-9]{5,20}", fullmatch=True)),
        )
    )
    def test_reveals_at_most_forty_percent(self, case: tuple[DocumentType, str]) -> None:
        doc_type, normalized = case
        masked = mask_document_number(doc_type, normalized)
        revealed = [c for c in masked if c not in "*()"]
        assert len(revealed) <= 0.4 * len(normalized)
        assert masked.count("*") == len(normalized) - len(revealed)

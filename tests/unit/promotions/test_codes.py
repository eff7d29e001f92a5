from __future__ import annotations

import pytest

from crossbay.promotions.codes import check_code_prefix, generate_code, normalize_code


@pytest.mark.parametrize(("typed", "stored"), [("summer", "SUMMER"), ("hk-26", "HK26"), ("A", "A")])
def test_a_prefix_is_stored_upper_case_without_separators(typed: str, stored: str) -> None:
    assert check_code_prefix(typed) == stored


@pytest.mark.parametrize("typed", ["", "--", "夏日", "SUM!", "X" * 23])
def test_a_prefix_that_is_not_letters_and_digits_or_too_long_is_refused(typed: str) -> None:
    with pytest.raises(ValueError):
        check_code_prefix(typed)


def test_a_generated_code_with_the_longest_prefix_is_still_a_valid_code() -> None:
    code = generate_code(check_code_prefix("X" * 22))
    assert normalize_code(code) == code

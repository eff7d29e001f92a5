"""The "Check your phone" page over HTTP: a plain GET form, answers in the visitor's language, the user
agent as a hint, and the links that lead to it before purchase."""

from __future__ import annotations

import html
import re

import httpx
import pytest

IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)
GALAXY = (
    "Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0 Mobile Safari/537.36"
)


def text_of(page: str) -> str:
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page)))


@pytest.mark.parametrize(
    ("language", "model", "status", "heading", "note"),
    [
        ("zh-Hant", "iphone15 pro", "supported", "iPhone 15 Pro 支援 eSIM", "中國內地"),
        ("zh-Hans", "iphone15 pro", "supported", "iPhone 15 Pro 支持 eSIM", "中国内地"),
        ("en", "iphone15 pro", "supported", "iPhone 15 Pro supports eSIM", "mainland China"),
        ("en", "A3092", "unsupported", "cannot use an eSIM", "mainland China"),
        ("zh-Hant", "Nokia 3310", "unknown", "我們未能識別「Nokia 3310」", "*#06#"),
        ("en", "Nokia 3310", "unknown", "We don't know “Nokia 3310”", "*#06#"),
    ],
)
def test_the_answer_and_its_note_in_the_visitors_language(
    http: httpx.Client, language: str, model: str, status: str, heading: str, note: str
) -> None:
    response = http.get("/check-phone", params={"model": model, "lang": language})
    assert response.status_code == 200
    assert f'class="card answer answer-{status}"' in response.text
    page = text_of(response.text)
    assert heading in page and note in page
    assert ('href="/buy"' in response.text) == (status == "supported")


def test_a_brand_and_a_short_model_are_read_together(http: httpx.Client) -> None:
    response = http.get("/check-phone", params={"brand": "Samsung", "model": "S23 Ultra", "lang": "en"})
    assert "Samsung Galaxy S23 Ultra supports eSIM" in text_of(response.text)
    assert '<option value="Samsung" selected>' in response.text


def test_an_iphone_is_asked_which_model_with_apple_chosen(http: httpx.Client) -> None:
    page = http.get("/check-phone?lang=en", headers={"User-Agent": IPHONE}).text
    assert "Looks like an iPhone — which model?" in text_of(page)
    assert '<option value="Apple" selected>' in page
    assert 'class="card answer' not in page


def test_an_android_phone_that_names_its_model_is_offered_a_one_tap_check(http: httpx.Client) -> None:
    page = http.get("/check-phone?lang=zh-Hant", headers={"User-Agent": GALAXY}).text
    assert "看來你用的是 Samsung Galaxy S23 Ultra" in text_of(page)
    assert 'href="/check-phone?model=SM-S918B"' in page
    answered = http.get("/check-phone?model=SM-S918B", headers={"User-Agent": GALAXY}).text
    assert "answer-supported" in answered and "看來你用的是" not in answered  # the answer replaces the hint


def test_an_empty_or_huge_model_is_a_form_message_not_an_error_page(http: httpx.Client) -> None:
    empty = http.get("/check-phone", params={"model": "  ", "lang": "en"})
    assert empty.status_code == 200 and "Type your phone's model." in text_of(empty.text)
    assert 'aria-invalid="true"' in empty.text
    huge = http.get("/check-phone", params={"model": "x" * 900, "lang": "en"})
    assert huge.status_code == 200 and "answer-unknown" in huge.text
    assert "x" * 81 not in text_of(huge.text)  # the echo is cut
    odd = http.get("/check-phone", params={"model": "<script>alert(1)</script>", "brand": "Nokia"})
    assert odd.status_code == 200 and "<script>alert(1)" not in odd.text


def test_the_landing_and_buy_pages_lead_to_the_check_before_checkout(
    http: httpx.Client, seeded: None
) -> None:
    for path in ("/?lang=en", "/buy?lang=en"):
        page = http.get(path).text
        assert '<a href="/check-phone">Check your phone</a>' in page or (
            'href="/check-phone">Check your phone</a>' in page
        ), path
    buy = http.get("/buy?lang=zh-Hant").text
    # The step comes before the packages the customer chooses from.
    assert buy.index('href="/check-phone"') < buy.index('href="/checkout?package=')

"""eSIM compatibility lookups over the bundled devices file."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crossbay.catalog.devices import (
    DeviceFileError,
    DeviceIndex,
    all_spellings,
    load_devices,
    lookup_device,
    normalize_model,
)

LANGUAGES = {"zh-Hant", "zh-Hans", "en"}


class TestBundledFile:
    def test_has_about_sixty_models_with_three_languages_of_notes(self) -> None:
        catalog = load_devices()
        assert len(catalog.devices) >= 55
        assert set(catalog.unknown_notes) == LANGUAGES
        for device in catalog.devices:
            assert set(device.notes) == LANGUAGES, device.name

    def test_every_name_and_alias_finds_its_own_device(self) -> None:
        for device, spelling in all_spellings(load_devices()):
            answer = lookup_device(spelling)
            assert answer.model == device.name, spelling
            assert answer.status == device.status

    def test_has_both_answers_from_several_brands(self) -> None:
        devices = load_devices().devices
        assert {d.brand for d in devices if d.status == "supported"} >= {
            "Apple",
            "Samsung",
            "Google",
            "Huawei",
            "Xiaomi",
            "OPPO",
            "vivo",
            "Honor",
        }
        assert sum(d.status == "unsupported" for d in devices) >= 5

    def test_supported_notes_warn_about_regional_models(self) -> None:
        # The answer most likely to be wrong for our customers is a supported
        # model bought in mainland China / Hong Kong: the notes must say so.
        answer = lookup_device("iPhone 15 Pro")
        assert "香港" in answer.notes["zh-Hant"] and "內地" in answer.notes["zh-Hant"]
        assert "Hong Kong" in answer.notes["en"]
        assert "*#06#" in answer.notes["en"]


@pytest.mark.parametrize(
    ("typed", "model", "status"),
    [
        ("iPhone 15 Pro", "iPhone 15 Pro", "supported"),
        ("iphone15 pro", "iPhone 15 Pro", "supported"),
        ("IPHONE 15 PRO", "iPhone 15 Pro", "supported"),
        ("  iPhone-15-Pro  ", "iPhone 15 Pro", "supported"),
        ("iphone 15 pro 256GB", "iPhone 15 Pro", "supported"),
        ("Apple iPhone 15 Pro Max", "iPhone 15 Pro Max", "supported"),
        ("蘋果 iPhone 15", "iPhone 15", "supported"),
        ("ｉＰｈｏｎｅ　１４", "iPhone 14", "supported"),  # full-width, from a Chinese keyboard
        ("iPhone XS Max", "iPhone XS Max", "supported"),
        ("iphone xr", "iPhone XR", "supported"),
        ("iPhone SE 2022", "iPhone SE (3rd generation)", "supported"),
        ("iPhone SE (2nd generation)", "iPhone SE (2nd generation)", "supported"),
        ("A2849", "iPhone 15 Pro Max", "supported"),
        ("a2849", "iPhone 15 Pro Max", "supported"),
        ("A3108", "iPhone 15 series (mainland China / Hong Kong / Macau model)", "unsupported"),
        ("A2892", "iPhone 14 series (mainland China / Hong Kong / Macau model)", "unsupported"),
        ("iPhone 8", "iPhone 8", "unsupported"),
        ("iPhone X", "iPhone X", "unsupported"),
        ("SM-S918B", "Samsung Galaxy S23 Ultra", "supported"),
        ("sm s918b", "Samsung Galaxy S23 Ultra", "supported"),
        ("SM-S918B/DS", "Samsung Galaxy S23 Ultra", "supported"),
        ("Samsung Galaxy S23 Ultra", "Samsung Galaxy S23 Ultra", "supported"),
        ("galaxy s23 ultra", "Samsung Galaxy S23 Ultra", "supported"),
        ("S23 Ultra", "Samsung Galaxy S23 Ultra", "supported"),
        ("三星 S23 Ultra", "Samsung Galaxy S23 Ultra", "supported"),
        ("Galaxy S20+", "Samsung Galaxy S20+", "supported"),
        ("galaxy s20 plus", "Samsung Galaxy S20+", "supported"),
        ("Galaxy Z Flip 5", "Samsung Galaxy Z Flip5", "supported"),
        ("Galaxy A14", "Samsung Galaxy A14", "unsupported"),
        ("Pixel 8 Pro", "Google Pixel 8 Pro", "supported"),
        ("google pixel 3a", "Google Pixel 3a", "supported"),
        ("Huawei P40 Pro", "Huawei P40 Pro", "supported"),
        ("華為 P40 Pro", "Huawei P40 Pro", "supported"),
        ("ELS-AN00", "Huawei P40 / Mate 40 series (mainland China model)", "unsupported"),
        ("mate40 pro", "Huawei Mate 40 Pro", "supported"),
        ("Xiaomi 13", "Xiaomi 13", "supported"),
        ("小米 14", "Xiaomi 14", "supported"),
        ("Redmi Note 12", "Redmi Note 12", "unsupported"),
        ("Xiaomi Redmi Note 12", "Redmi Note 12", "unsupported"),
        ("oppo find x5 pro", "OPPO Find X5 Pro", "supported"),
        ("vivo X90 Pro", "vivo X90 Pro", "supported"),
        ("Honor Magic 6 Pro", "Honor Magic6 Pro", "supported"),
    ],
)
def test_lookup_of_what_people_type(typed: str, model: str, status: str) -> None:
    answer = lookup_device(typed)
    assert (answer.model, answer.status) == (model, status)
    assert set(answer.notes) == LANGUAGES


@pytest.mark.parametrize(
    "typed",
    [
        "Nokia 3310",
        "iPhone SE",  # three generations, one of them without eSIM: do not guess
        "iPhone 15 Pro Maxx",
        "iPhone 1",
        "Galaxy S23 FE",  # not on the list, even though "Galaxy S23" is
        "OPPO S23 Ultra",  # a brand word only counts for that brand's phones
        "apple 13",
        "",
        "   ",
        "256GB",
    ],
)
def test_unrecognised_input_is_unknown_never_guessed(typed: str) -> None:
    answer = lookup_device(typed)
    assert answer.status == "unknown"
    assert answer.model == typed.strip()
    assert set(answer.notes) == LANGUAGES
    for text in answer.notes.values():
        assert "*#06#" in text and "EID" in text


def test_unknown_model_echo_is_capped() -> None:
    assert len(lookup_device("x" * 5000).model) == 100


def test_answers_are_copies() -> None:
    lookup_device("iPhone 15").notes["en"] = "changed"
    lookup_device("Nokia 3310").notes["en"] = "changed"
    assert lookup_device("iPhone 15").notes["en"] != "changed"
    assert lookup_device("Nokia 3310").notes["en"] != "changed"


@pytest.mark.parametrize(
    ("typed", "key"),
    [
        ("iPhone 15 Pro", "iphone15pro"),
        ("iphone15 pro", "iphone15pro"),
        ("iPhone-15-Pro", "iphone15pro"),
        ("Galaxy S20+", "galaxys20plus"),
        ("SM-S918B/DS", "sms918b"),
        ("iPhone 15 Pro 1 TB", "iphone15pro"),
        ("Galaxy A54 5G", "galaxya545g"),  # "5G" is not a storage size
        ("ｓｍ－ｓ９１８ｂ", "sms918b"),
    ],
)
def test_normalize_model(typed: str, key: str) -> None:
    assert normalize_model(typed) == key


@given(st.text(max_size=40))
def test_lookup_never_fails_and_answers_one_of_three(text: str) -> None:
    answer = lookup_device(text)
    assert answer.status in ("supported", "unsupported", "unknown")
    if answer.status != "unknown":
        # Only an exact (normalised, maybe brand-stripped) alias may be answered.
        spellings = {normalize_model(s) for d, s in all_spellings(load_devices()) if d.name == answer.model}
        assert any(normalize_model(text).endswith(spelling) for spelling in spellings)


# --- malformed files ---------------------------------------------------------

UNKNOWN = """
[unknown.notes]
zh-Hant = "請撥 *#06#"
zh-Hans = "请拨 *#06#"
en = "Dial *#06#"
"""


def _device(name: str, aliases: str, status: str = "supported", extra: str = "") -> str:
    return f"""
[[device]]
brand = "Apple"
name = "{name}"
aliases = {aliases}
status = "{status}"
{extra}
[device.notes]
zh-Hant = "支援"
zh-Hans = "支持"
en = "Supported"
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "devices.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_small_valid_file_builds_an_index(tmp_path: Path) -> None:
    catalog = load_devices(_write(tmp_path, UNKNOWN + _device("iPhone 15", '["A2846"]')))
    answer = DeviceIndex(catalog).lookup("a2846")
    assert (answer.model, answer.status) == ("iPhone 15", "supported")


@pytest.mark.parametrize(
    ("body", "match"),
    [
        (
            _device("iPhone 15", '["A1"]') + _device("iPhone 15 Pro", '["a-1"]'),
            "also matches device 'iPhone 15'",
        ),
        (_device("iPhone 15", '["A1"]') + _device("iphone15", "[]"), "also matches"),
        (_device("iPhone 15", "[]", status="maybe"), "'status'"),
        (_device("iPhone 15", "[]", extra='colour = "red"'), "'colour'"),
        (_device("iPhone 15", '["---"]'), "normalises to nothing"),
        (_device("iPhone 15", '"A2846"'), "'aliases'"),
        (_device("iPhone 15", "[]").replace('brand = "Apple"', 'brand = "Nokia"'), "'brand'"),
        (_device("iPhone 15", "[]").replace('en = "Supported"\n', ""), "missing language"),
    ],
)
def test_malformed_devices_file_is_refused(tmp_path: Path, body: str, match: str) -> None:
    with pytest.raises(DeviceFileError, match=match):
        load_devices(_write(tmp_path, UNKNOWN + body))


def test_unknown_notes_are_required(tmp_path: Path) -> None:
    with pytest.raises(DeviceFileError, match=r"\[unknown\.notes\]"):
        load_devices(_write(tmp_path, _device("iPhone 15", "[]")))


def test_invalid_toml_is_a_device_file_error(tmp_path: Path) -> None:
    with pytest.raises(DeviceFileError, match="not valid TOML"):
        load_devices(_write(tmp_path, "[[device]\n"))

"""The user agent as a hint on the phone-check page, and a brand chosen beside a typed model."""

from __future__ import annotations

import pytest

from crossbay.web.devices import DeviceHint, check, hint_of

IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)
IPAD_DESKTOP = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.5 Safari/605.1.15"
)


@pytest.mark.parametrize(
    ("agent", "expected"),
    [
        (IPHONE, DeviceHint("ios", "Apple")),
        (
            "Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/126.0 Mobile Safari/537.36",
            DeviceHint("android", "Samsung", "SM-S918B", "Samsung Galaxy S23 Ultra"),
        ),
        (
            "Mozilla/5.0 (Linux; Android 14; SAMSUNG SM-S928B) AppleWebKit/537.36 (KHTML, like Gecko) "
            "SamsungBrowser/25.0 Chrome/121.0 Mobile Safari/537.36",
            DeviceHint("android", "Samsung", "SAMSUNG SM-S928B", "Samsung Galaxy S24 Ultra"),
        ),
        (
            "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/126.0 Mobile Safari/537.36",
            DeviceHint("android", "Google", "Pixel 8", "Google Pixel 8"),
        ),
        (
            "Mozilla/5.0 (Linux; Android 10; ELS-NX9 Build/HUAWEIELS-N29; wv) AppleWebKit/537.36 "
            "(KHTML, like Gecko) Version/4.0 Chrome/88.0 Mobile Safari/537.36",
            DeviceHint("android", "Huawei", "ELS-NX9", "Huawei P40 Pro"),
        ),
        # A code not in the devices file: the brand from its shape, no model name.
        (
            "Mozilla/5.0 (Linux; Android 13; SM-A245F) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/120.0 Mobile Safari/537.36",
            DeviceHint("android", "Samsung", "SM-A245F"),
        ),
        (
            "Mozilla/5.0 (Linux; U; Android 4.0.3; ko-kr; LG-L160L Build/IML74K) AppleWebkit/534.30 "
            "(KHTML, like Gecko) Version/4.0 Mobile Safari/534.30",
            DeviceHint("android", None, "LG-L160L"),
        ),
        # Chrome's reduced user agent names no model.
        (
            "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/126.0.0.0 Mobile Safari/537.36",
            DeviceHint("android"),
        ),
        (IPAD_DESKTOP, None),
        ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0", None),
        (None, None),
        ("", None),
    ],
)
def test_the_user_agent_suggests_a_platform_brand_and_model(agent: str | None, expected: object) -> None:
    assert hint_of(agent) == expected


def test_a_brand_chosen_beside_the_model_completes_it_but_never_overrides_it() -> None:
    assert check("S23 Ultra", "Samsung").model == "Samsung Galaxy S23 Ultra"
    assert check("Magic5 Pro", None).model == "Honor Magic5 Pro"
    # What was typed names a phone: a wrong brand beside it does not change the answer.
    assert check("iPhone 15", "Samsung").model == "iPhone 15"
    assert check("Note 12", "Xiaomi").status == "unknown"  # no guessing: "Redmi Note 12" is typed in full
    assert check("Find X5", "Samsung").model == "OPPO Find X5"
    assert check("made-up phone", "Apple").status == "unknown"

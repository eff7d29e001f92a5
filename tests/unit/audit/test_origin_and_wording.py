"""Devices as the audit record names them, and every customer-facing audit and support text translated."""

from __future__ import annotations

import pytest
from babel.messages.pofile import read_po

from crossbay.audit import wording as audit_wording
from crossbay.audit.origin import device_hash, device_label
from crossbay.support import wording as support_wording
from crossbay.web.activity import ACTORS
from crossbay.web.rendering import TEMPLATES_DIR

KEY = b"k" * 32
IPHONE_SAFARI = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)
ANDROID_WECHAT = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0 Mobile Safari/537.36 MicroMessenger/8.0.47"
)
WINDOWS_EDGE = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0 Safari/537.36 Edg/120.0"
)


@pytest.mark.parametrize(
    ("user_agent", "label"),
    [
        (IPHONE_SAFARI, "Safari · iOS"),
        (ANDROID_WECHAT, "WeChat · Android"),
        (WINDOWS_EDGE, "Edge · Windows"),
        ("python-httpx/0.28.1", "python-httpx"),
        ("", None),
        (None, None),
        ("Mozilla/5.0", None),
    ],
)
def test_device_labels_are_coarse(user_agent: str | None, label: str | None) -> None:
    assert device_label(user_agent) == label


def test_a_device_is_its_cookie_then_its_app_id_then_its_user_agent() -> None:
    cookie, app_id = "c" * 32, "a" * 32
    by_cookie = device_hash(KEY, cookie=cookie, device_id=app_id, user_agent=IPHONE_SAFARI)
    assert by_cookie == device_hash(KEY, cookie=cookie, device_id=None, user_agent=WINDOWS_EDGE)
    by_app = device_hash(KEY, cookie=None, device_id=app_id, user_agent=IPHONE_SAFARI)
    assert by_app == device_hash(KEY, cookie="short", device_id=app_id, user_agent=None)
    by_agent = device_hash(KEY, cookie=None, device_id="bad id!", user_agent=IPHONE_SAFARI)
    assert len({by_cookie, by_app, by_agent}) == 3
    assert by_cookie != device_hash(b"x" * 32, cookie=cookie, device_id=None, user_agent=None)  # keyed
    assert cookie not in by_cookie


def _catalog(name: str) -> dict[str, str]:
    with (TEMPLATES_DIR.parent / "translations" / name / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        return {str(m.id): str(m.string) for m in read_po(handle, locale=name) if m.id}


@pytest.mark.parametrize("name", ["zh_Hant", "zh_Hans"])
def test_every_audit_and_support_message_is_translated(name: str) -> None:
    catalog = _catalog(name)
    wanted = {*audit_wording.ALL, *support_wording.ALL, *ACTORS.values()}
    assert sorted(m for m in wanted if not catalog.get(m)) == []

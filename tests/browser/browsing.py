"""What the Playwright tests share: a phone-sized context, screenshots, signing in and real-name by hand."""

from __future__ import annotations

import re

import httpx
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.support import sensitive
from tests.support.journey import hkid_with_check, new_phone, poll
from tests.support.servers import REPO

SCREENSHOTS = REPO / "var" / "screenshots"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}
# Fulfilment runs in the demo's worker: SM-DP+ calls and quota, normally a second or two.
FULFILMENT_TIMEOUT_MS = 60_000
ACTIVATION_CODE = re.compile(r"^LPA:1\$[^$]+\$[^$]+$")


def new_context(
    browser: Browser, base_url: str, viewport: dict[str, int], *, locale: str, javascript: bool = True
) -> BrowserContext:
    context = browser.new_context(
        base_url=base_url,
        viewport=viewport,  # type: ignore[arg-type]
        locale=locale,
        java_script_enabled=javascript,
    )
    context.set_default_timeout(15_000)
    return context


def screenshot(page: Page, number: int, name: str) -> None:
    """Save the whole page, after checking that nothing is wider than the screen."""
    size = page.viewport_size
    assert size is not None
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, f"{name}: the page is {overflow}px wider than the {size['width']}px screen"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(
        path=str(SCREENSHOTS / f"{number:02d}-{name}-{size['width']}x{size['height']}.png"), full_page=True
    )


def sms_code(base_url: str, phone: str, *, nth: int = 1) -> str:
    """The newest of ``nth`` codes the sandbox SMS gateway sent the phone (the worker sends a moment late)."""

    def fetch() -> list[dict[str, str]]:
        items: list[dict[str, str]] = httpx.get(
            f"{base_url}/sandbox/sms/messages", params={"phone": phone}
        ).json()["items"]
        return items

    items = poll(fetch, lambda found: len(found) >= nth, timeout=30)
    found = re.search(r"\b(\d{6})\b", items[0]["body"])  # newest first
    assert found is not None, items[0]
    sensitive.register(found.group(1))
    return found.group(1)


def sign_in(
    page: Page, base_url: str, phone: str, *, send: str, submit: str, shots: tuple[int, int] | None = None
) -> None:
    if "/signin" not in page.url:
        page.goto("/signin")
    page.get_by_label(re.compile("手機號碼|手机号码|Mobile number")).fill(phone)
    if shots:
        screenshot(page, shots[0], "signin")
    page.get_by_role("button", name=send).click()
    expect(page).to_have_url(re.compile(r"/signin/code$"))
    # The phone travels in a signed cookie, never in the address bar.
    assert phone[1:] not in page.url and phone[-8:] not in page.url
    page.get_by_label(re.compile("驗證碼|验证码|Verification code")).fill(sms_code(base_url, phone))
    if shots:
        screenshot(page, shots[1], "signin-code")
    page.get_by_role("button", name=submit, exact=True).click()


def register_identity(page: Page, *, bad_first: bool = False) -> None:
    number = hkid_with_check("A", f"{int(new_phone()[-6:]):06d}")
    page.get_by_label(re.compile("姓名|Full name")).fill("陳大文")
    page.get_by_label(re.compile("證件類別|证件类型|Document type")).select_option("hkid")
    page.get_by_label(re.compile("出生日期|Date of birth")).fill("1990-05-17")
    if bad_first:
        wrong_check = number[:-2] + ("1" if number[-2] != "1" else "2") + ")"
        page.get_by_label(re.compile("證件號碼|Document number")).fill(wrong_check)
        page.get_by_role("button", name=re.compile("儲存並繼續|Save and continue")).click()
        expect(page.locator("#document_number-error")).to_contain_text("檢查碼")
        screenshot(page, 5, "identity-error")
    page.get_by_label(re.compile("證件號碼|Document number")).fill(number)
    page.get_by_role("button", name=re.compile("儲存並繼續|Save and continue")).click()

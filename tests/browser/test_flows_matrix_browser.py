"""Every customer flow of the web app, by hand in Chromium, in Traditional Chinese and English, on a
390×844 phone and a 1280×800 desktop: four runs of one customer's whole life with us.

Each page is saved under var/screenshots/ (``2xx-<page>-<language>-<size>.png``) and checked with
axe-core: any serious or critical violation fails the run. Labels are looked up in the same
catalogs the pages use, so a button renamed in a catalog cannot silently skip a step.

Not here, as others own them: the device check, notifications and reminder settings.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from crossbay.i18n import translate
from tests.browser.a11y import assert_accessible
from tests.browser.accounts import MB, SESSION_COOKIE, send_usage
from tests.browser.browsing import (
    DESKTOP,
    FULFILMENT_TIMEOUT_MS,
    PHONE,
    new_context,
    register_identity,
    screenshot,
    sign_in,
    sms_code,
)
from tests.support import sensitive
from tests.support.journey import new_phone

pytestmark = pytest.mark.browser

LOCALES = {"zh-Hant": "zh-HK", "en": "en-GB"}
# The sandbox card cashier is the provider's page, with its own words.
APPROVE = {"zh-Hant": "批准付款", "en": "Approve payment"}
PIN_CANDIDATES = ("731946", "582047", "904613")
PASSWORD = "lantau-peak-ferry-934"
# Money on its own line of a card or a choice: "HK$6" above "8.00" misreads as a different price.
AMOUNTS = ".package .price, .amount-choice label, .balance .amount, .lines .total"
_BROKEN_AMOUNTS = """(selector) => [...document.querySelectorAll(selector)].filter(el => {
  const range = document.createRange();
  range.selectNodeContents(el);
  return new Set([...range.getClientRects()].map(r => Math.round(r.top))).size > 1;
}).map(el => el.textContent.trim())"""


@dataclass
class Tour:
    """One run: the page, its language, and a counter that keeps screenshots in visiting order."""

    page: Page
    language: str
    number: int = 200
    seen: list[str] = field(default_factory=list)

    def t(self, message: str, **values: str) -> str:
        text = translate(self.language, message)
        return text.format(**values) if values else text

    def look(self, name: str, *, check: bool = True) -> None:
        """Screenshot the page and, for our own pages, run the accessibility check."""
        expect(self.page.locator("html")).to_have_attribute("lang", self.language)
        self.number += 1
        screenshot(self.page, self.number, f"{name}-{self.language}")
        if check:
            assert_accessible(self.page, name)
            broken = self.page.evaluate(_BROKEN_AMOUNTS, AMOUNTS)
            assert not broken, f"{name}: amounts broken over two lines: {broken}"
        self.seen.append(name)

    def pay_at_cashier(self) -> None:
        expect(self.page).to_have_url(re.compile(r"/sandbox/pay/card/"))
        self.look("cashier", check=False)  # the provider's page, not ours
        self.page.get_by_role("button", name=APPROVE[self.language]).click()

    def wait_done(self) -> None:
        expect(self.page).to_have_url(re.compile(r"/orders/ord_\w+(\?redirect_status=\w+)?$"))
        expect(self.page.locator(".status-line")).to_have_text(self.t("Done"), timeout=FULFILMENT_TIMEOUT_MS)


@pytest.mark.parametrize(
    ("language", "viewport"),
    [("zh-Hant", PHONE), ("en", PHONE), ("zh-Hant", DESKTOP), ("en", DESKTOP)],
    ids=["zh-Hant-phone", "en-phone", "zh-Hant-desktop", "en-desktop"],
)
def test_every_flow(browser: Browser, base_url: str, language: str, viewport: dict[str, int]) -> None:
    context = new_context(browser, base_url, viewport, locale=LOCALES[language])
    page = context.new_page()
    tour = Tour(page, language)
    t = tour.t
    phone = new_phone()
    pin = next(p for p in PIN_CANDIDATES if p not in phone)
    sensitive.register(phone, phone[1:], pin, PASSWORD)

    # Landing and offers, signed out.
    page.goto("/")
    tour.look("landing")
    page.get_by_role("link", name=t("Offers"), exact=True).first.click()
    expect(page).to_have_url(re.compile(r"/promotions$"))
    tour.look("promotions")

    # Sign in (phone → code), then real-name registration with one mistake shown in place.
    page.goto("/signin")
    page.get_by_label(t("Mobile number")).fill(phone)
    tour.look("signin")
    page.get_by_label(t("Mobile number")).fill("")
    sign_in(page, base_url, phone, send=t("Send code"), submit=t("Sign in"))
    expect(page).to_have_url(re.compile(r"/identity$"))
    page.get_by_role("button", name=t("Save and continue")).click()
    expect(page.locator("[aria-invalid=true]").first).to_be_visible()
    tour.look("identity-errors")
    register_identity(page)

    # Buy: the HK$88 starter with the welcome coupon, by card.
    expect(page).to_have_url(re.compile(r"/buy$"))
    tour.look("buy")
    page.get_by_role("link", name=t("Choose"), exact=True).nth(1).click()
    expect(page).to_have_url(re.compile(r"/checkout\?package=pkg_\w+$"))
    page.get_by_label(t("Coupon code")).fill("WELCOME10")
    page.get_by_role("button", name=t("Apply"), exact=True).click()
    expect(page.locator(".total")).to_have_text(re.compile(r"HK\$78\.00"))
    tour.look("checkout-coupon")
    page.get_by_role("button", name=re.compile(r"HK\$78\.00")).click()
    tour.pay_at_cashier()
    tour.wait_done()
    expect(page.locator("figure.qr img")).to_be_visible()
    tour.look("order-fulfilled")
    page.get_by_role("link", name=t("Install your eSIM")).click()
    expect(page).to_have_url(re.compile(r"/esims/esim_\w+$"))
    esim_id = page.url.rsplit("/", 1)[-1]
    send_usage(base_url, iccid_of(context, base_url, esim_id), {0: 200 * MB})
    page.reload()
    expect(page.locator("figure.usage-chart rect.bar")).to_have_count(30)
    tour.look("esim")

    # Home: the gauge, then the top-up list with a region filter, paid by card.
    page.get_by_role("link", name=t("Back to my account")).click()
    expect(page.locator(".esim .gauge-left")).to_contain_text("2.8 GB")
    tour.look("home")
    page.get_by_role("link", name=t("Top up"), exact=True).first.click()
    expect(page).to_have_url(re.compile(rf"/esims/{esim_id}/topup$"))
    page.get_by_role("link", name=t("Macau"), exact=True).click()
    expect(page).to_have_url(re.compile(r"/topup\?region=mo$"))
    tour.look("topup")
    page.get_by_role("link", name=t("Choose"), exact=True).first.click()
    expect(page).to_have_url(re.compile(rf"/checkout\?package=pkg_\w+&esim={esim_id}$"))
    tour.look("checkout-topup")
    page.get_by_role("button", name=re.compile(r"HK\$")).last.click()
    tour.pay_at_cashier()
    tour.wait_done()
    tour.look("order-topup")

    # Wallet: fill it by card.
    page.goto("/wallet")
    tour.look("wallet")
    page.locator("label[for=amount-200]").click()
    page.get_by_role("button", name=t("Continue to payment")).click()
    tour.pay_at_cashier()
    expect(page).to_have_url(re.compile(r"/wallet\?topup=wtu_\w+"))
    expect(page.locator(".balance .amount")).to_have_text(
        re.compile(r"HK\$200\.00"), timeout=FULFILMENT_TIMEOUT_MS
    )
    tour.look("wallet-filled")

    # Account: a payment PIN by SMS code, a login password, the wallet as the preferred way to pay.
    page.goto("/account/pin")
    page.get_by_role("button", name=t("Confirm with a code by SMS")).click()
    expect(page).to_have_url(re.compile(r"/account/pin\?sent=1"))
    page.get_by_label(t("Verification code")).fill(sms_code(base_url, phone, nth=2))
    page.get_by_label(t("New payment PIN"), exact=True).fill(pin)
    page.get_by_label(t("New payment PIN again")).fill(pin)
    tour.look("account-pin")
    page.get_by_role("button", name=t("Save PIN")).click()
    expect(page).to_have_url(re.compile(r"/home\?notice="))
    page.goto("/account/password")
    page.get_by_label(t("New password"), exact=True).fill(PASSWORD)
    page.get_by_label(t("New password again")).fill(PASSWORD)
    tour.look("account-password")
    page.get_by_role("button", name=t("Save password")).click()
    expect(page).to_have_url(re.compile(r"/home\?notice=password_saved$"))
    page.goto("/account/payment")
    page.locator("label[for=method-wallet]").click()
    tour.look("account-payment")
    page.get_by_role("button", name=t("Save"), exact=True).click()
    expect(page).to_have_url(re.compile(r"/home"))

    # The one-tap top-up from home, paid from the wallet (now preselected) with the PIN pad.
    page.locator(".esim a.quick-topup").click()
    expect(page.get_by_role("radio", name=re.compile(t("Wallet")))).to_be_checked()
    page.get_by_role("button", name=re.compile(r"HK\$")).last.click()
    expect(page).to_have_url(re.compile(r"/orders/ord_\w+/pay$"))
    for digit in pin:
        page.locator(".pin-pad").get_by_role("button", name=digit, exact=True).click()
    tour.look("pay-pin")
    page.get_by_role("button", name=re.compile(r"HK\$")).last.click()
    tour.wait_done()
    expect(page.locator(".paid-with")).to_contain_text(t("Wallet"))

    # Coupons, activity, support.
    page.goto("/coupons")
    page.get_by_label(t("Add a coupon by its code")).fill("travel15")
    page.get_by_role("button", name=t("Add"), exact=True).click()
    expect(page.locator(".coupon", has_text="TRAVEL15")).to_be_visible()
    tour.look("coupons")
    page.goto("/account/activity")
    expect(page.locator(".activity-what").first).to_have_text(t("Preferred way to pay changed"))
    tour.look("activity")
    page.goto("/support")
    tour.look("support-list")
    page.get_by_role("link", name=t("New request")).click()
    page.get_by_label(t("Subject")).fill("eSIM")
    page.get_by_label(t("How can we help?")).fill("When does my Macau pack start?")
    tour.look("support-new")
    page.get_by_role("button", name=t("Send request")).click()
    expect(page).to_have_url(re.compile(r"/support/tkt_\w+$"))
    page.get_by_label(t("Reply")).fill("I am in Macau now.")
    page.get_by_role("button", name=t("Send reply")).click()
    expect(page.locator(".message-body")).to_have_count(2)
    tour.look("support-ticket")

    # Another language for a moment, then sign out.
    page.goto("/home")
    page.locator("a[hreflang=zh-Hans]").click()
    expect(page.locator("html")).to_have_attribute("lang", "zh-Hans")
    page.goto(f"/home?lang={language}")
    page.get_by_role("button", name=t("Sign out")).click()
    expect(page.get_by_role("link", name=t("Sign in"), exact=True)).to_be_visible()
    page.goto("/home")
    expect(page).to_have_url(re.compile(r"/signin\?next=%2Fhome$"))
    context.close()


def iccid_of(context: BrowserContext, base_url: str, esim_id: str) -> str:
    """The full ICCID, which no page shows: asked of the API with the browser's own session."""
    token = next(c["value"] for c in context.cookies() if c["name"] == SESSION_COOKIE)
    answer = httpx.get(f"{base_url}/api/v1/esims/{esim_id}", headers={"Authorization": f"Bearer {token}"})
    return str(answer.json()["iccid"])


def test_the_accessibility_check_fails_on_what_it_should(browser: Browser) -> None:
    """Guards the guard: a page with an unlabelled field and an image without text is refused."""
    context = browser.new_context()
    page = context.new_page()
    page.set_content(
        '<!doctype html><html lang="en"><title>t</title><main><h1>Form</h1>'
        '<img src="data:image/gif;base64,R0lGODlhAQABAAAAACw="><input type="text"></main></html>'
    )
    with pytest.raises(AssertionError) as refused:
        assert_accessible(page, "broken")
    assert "image-alt" in str(refused.value) and "label" in str(refused.value)
    context.close()

"""The back office in Chromium: staff from `crossbay staff add`, TOTP sign-in, orders, refund, reports.

Screenshots of each screen at 1280×800 and 390×844 go to var/screenshots/ (numbers 60+).
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pyotp
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.browsing import DESKTOP, PHONE, new_context, screenshot
from tests.support import sensitive
from tests.support.journey import buy, first_package, register_identity, sign_in, wait_fulfilled
from tests.support.servers import CROSSBAY, REPO, Deployment, demo_on_sqlite

pytestmark = pytest.mark.browser

PASSWORD = "Harbour lights at 9pm, ferry 42"


@dataclass
class Staff:
    email: str
    secret: str

    def code(self) -> str:
        code = pyotp.TOTP(self.secret).now()
        sensitive.register(code)
        return code


@dataclass
class BackOffice:
    url: str
    deployment: Deployment
    order_id: str


def staff_add(deployment: Deployment, email: str, role: str, svg: Path) -> Staff:
    """The command a new staff member's administrator runs; the password comes from the environment."""
    result = subprocess.run(
        [CROSSBAY, "staff", "add", email, "--role", role, "--qr-svg", str(svg)],
        env=deployment.env(CROSSBAY_STAFF_PASSWORD=PASSWORD),
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert PASSWORD not in result.stdout + result.stderr
    uri = re.search(r"otpauth://\S+", result.stdout)
    assert uri is not None, result.stdout
    assert svg.read_text().lstrip().startswith(("<?xml", "<svg"))
    secret = pyotp.parse_uri(uri.group(0)).secret
    sensitive.register(secret, PASSWORD)
    return Staff(email, secret)


@pytest.fixture(scope="module")
def back_office(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BackOffice]:
    with demo_on_sqlite() as (deployment, process):
        assert process.url is not None
        with httpx.Client(base_url=process.url, timeout=60) as http:
            customer = sign_in([http])
            register_identity(customer)
            package = first_package(customer, "new_esim")
            wait_fulfilled(customer, buy(customer, package["id"])["id"])
            refundable = wait_fulfilled(customer, buy(customer, package["id"])["id"])
        yield BackOffice(process.url, deployment, refundable["id"])


def sign_in_page(page: Page, staff: Staff, shot: int) -> None:
    page.goto("/admin/orders")
    expect(page).to_have_url(re.compile(r"/admin/signin\?next="))
    expect(page.get_by_role("heading", level=1)).to_have_text("員工登入")
    screenshot(page, shot, "admin-signin")
    page.get_by_label("電郵").fill(staff.email)
    page.get_by_label("密碼").fill(PASSWORD)
    page.get_by_label("驗證器代碼").fill(staff.code())
    page.get_by_role("button", name="登入").click()
    expect(page).to_have_url(re.compile(r"/admin/orders$"))


@pytest.mark.parametrize(("viewport", "role", "first_shot"), [(DESKTOP, "finance", 60), (PHONE, "admin", 70)])
def test_staff_signs_in_sees_orders_refunds_and_reads_reports(
    browser: Browser,
    back_office: BackOffice,
    tmp_path: Path,
    viewport: dict[str, int],
    role: str,
    first_shot: int,
) -> None:
    staff = staff_add(
        back_office.deployment, f"{role}.{first_shot}@staff.crossbay.test", role, tmp_path / "qr.svg"
    )
    context = new_context(browser, back_office.url, viewport, locale="zh-HK")
    page = context.new_page()
    sign_in_page(page, staff, first_shot)

    expect(page.get_by_role("heading", level=1)).to_have_text("訂單")
    expect(page.locator("tbody tr")).to_have_count(2)
    screenshot(page, first_shot + 1, "admin-orders")

    page.get_by_role("link", name=back_office.order_id).click()
    expect(page).to_have_url(re.compile(rf"/admin/orders/{back_office.order_id}$"))
    expect(page.locator("ol.timeline li")).not_to_have_count(0)
    if role == "finance":
        page.get_by_label("原因（會記錄）").fill("客人改變行程")
        screenshot(page, first_shot + 2, "admin-order")
        page.get_by_role("button", name=re.compile("^退款")).click()
        expect(page.locator(".flash")).to_contain_text("已要求退款")
    else:
        screenshot(page, first_shot + 2, "admin-order")

    page.goto("/admin/reports")
    expect(page.locator("section.report[data-currency=HKD]")).to_be_visible()
    expect(page.locator("figure.chart rect")).not_to_have_count(0)
    screenshot(page, first_shot + 3, "admin-reports")

    page.goto("/admin/reports?lang=en")
    expect(page.get_by_role("heading", level=1)).to_have_text("Daily reports")
    context.close()

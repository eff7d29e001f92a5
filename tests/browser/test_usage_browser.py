"""Usage on the pages: the remaining-data gauge on home and the 30-day bar chart on the eSIM page,
server-drawn SVG that says the same in words, in two languages at both sizes, with JavaScript off."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, expect

from tests.browser.accounts import MB, customer_with_esim, send_usage, signed_in
from tests.browser.browsing import DESKTOP, PHONE, screenshot

pytestmark = pytest.mark.browser

# What each language says, and the viewport it is looked at in.
CASES = {
    "zh-Hant": (PHONE, "zh-HK", "數據尚餘 {}%", "尚餘 {} 日", "數據快將用完", "日期（香港時間）"),
    "en": (DESKTOP, "en-GB", "{}% of your data left", "{} days left", "Running low", "Day (Hong Kong time)"),
}


@pytest.mark.parametrize("language", list(CASES))
def test_gauge_on_home_and_daily_chart_on_the_esim_page(
    browser: Browser, base_url: str, language: str
) -> None:
    viewport, locale, percent_text, days_text, low_text, day_axis = CASES[language]
    customer, esim = customer_with_esim(base_url)
    # 8.5 GB today leaves 1.5 GB of 10 GB (15%: running low); earlier days are drawn from the totals.
    results = send_usage(
        base_url, esim["iccid"], {0: 8704 * MB, 3: 120 * MB, 9: 40 * MB, 29: 5 * MB, 30: 77 * MB}
    )
    assert results[0] == "rated"  # today's, the only one after the purchase

    context = signed_in(browser, base_url, customer, viewport, locale=locale, javascript=False)
    page = context.new_page()
    page.goto("/home")
    gauge = page.locator(".esim .gauge")
    expect(gauge.get_by_role("img")).to_have_accessible_name(percent_text.format(15))
    expect(gauge.locator(".gauge-left")).to_contain_text("1.5 GB")
    expect(gauge.locator(".gauge-left")).to_contain_text("10 GB")
    # The 10 GB starter runs 30 days from purchase: today counts as the first.
    expect(gauge.locator(".gauge-days")).to_have_text(days_text.format(30))
    # Low is said in words, not only by the ring turning red.
    expect(gauge.locator(".gauge-warning")).to_contain_text(low_text)
    quick = page.locator("a.quick-topup")
    expect(quick).to_have_attribute("href", re.compile(rf"^/checkout\?package=pkg_\w+&esim={esim['id']}$"))
    screenshot(page, 90, f"home-gauge-{language}")

    quick.click()
    expect(page).to_have_url(re.compile(r"/checkout\?package=pkg_\w+&esim=esim_"))
    expect(page.locator(".lines .total")).to_contain_text("HK$")

    page.goto(f"/esims/{esim['id']}")
    chart = page.locator("figure.usage-chart")
    expect(chart.locator("rect.bar")).to_have_count(30)
    heights = [
        float(h or 0)
        for h in chart.locator("rect.bar").evaluate_all("bs => bs.map(b => b.getAttribute('height'))")
    ]
    # Oldest first: 29 days ago is the first bar, today the last; 30 days ago is outside the chart.
    assert [i for i, h in enumerate(heights) if h > 0] == [0, 20, 26, 29]
    # Against today's 8.5 GB the small days are slivers, but never invisible.
    assert heights[29] == max(heights) > heights[26] >= 1 and heights[20] >= 1 and heights[0] >= 1
    expect(chart.locator("text.axis-title")).to_have_count(2)
    expect(chart.locator("text.axis-title").last).to_have_text(day_axis)
    expect(chart.locator("svg")).to_have_attribute("role", "img")
    expect(chart.locator("figcaption")).to_contain_text("8.5 GB")
    # The same numbers as a table, folded away; without scripts <details> still opens.
    chart.locator("details summary").click()
    rows = chart.locator("tbody tr")
    expect(rows).to_have_count(30)
    expect(rows.first.locator("td").last).to_have_text("8.5 GB")
    expect(rows.nth(3).locator("td").last).to_have_text("120 MB")
    screenshot(page, 91, f"esim-usage-{language}")
    context.close()

"""One `crossbay demo` and one Chromium for all the browser tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, sync_playwright

from tests.support import sensitive
from tests.support.servers import demo_on_sqlite

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


# A customer who signed in by SMS a moment ago may ask for a second code (to set a payment PIN)
# after this many seconds instead of a minute, so the suite need not sit and wait.
OTP_RESEND_SECONDS = "3"
# The carrier network's key, so tests can send usage records the way the network does.
NETWORK_API_KEY = "browser-tests-network-key-0123456789"


@pytest.fixture(scope="session")
def base_url() -> Iterator[str]:
    sensitive.register(NETWORK_API_KEY)
    with demo_on_sqlite(
        CROSSBAY_OTP_RESEND_SECONDS=OTP_RESEND_SECONDS, CROSSBAY_NETWORK_API_KEY=NETWORK_API_KEY
    ) as (_deployment, process):
        assert process.url is not None
        yield process.url


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is not installed")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield launched
        launched.close()

"""Customer pages (server-rendered, work without JavaScript), assembled from one module per area."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter

from crossbay.web import account, account_settings, checkout, esims, shop, signin, wallet
from crossbay.web import activity as activity_pages
from crossbay.web import devices as device_pages
from crossbay.web import notifications as notification_pages
from crossbay.web import promotions as promotion_pages
from crossbay.web import support as support_pages

STATIC_DIR = Path(__file__).parent / "static"
router = APIRouter(include_in_schema=False)

for _pages in (
    shop.router,
    signin.router,
    account.router,
    account_settings.router,
    checkout.router,
    wallet.router,
    esims.router,
    activity_pages.router,
    support_pages.router,
    promotion_pages.router,
    notification_pages.router,
    device_pages.router,
):
    router.include_router(_pages)

"""The back office's router: importing each screen module registers its routes on it."""

from __future__ import annotations

from crossbay.admin import (  # noqa: F401
    catalog_routes,
    customer_routes,
    esim_routes,
    finance_routes,
    order_routes,
    promotions_routes,
    report_routes,
    signin_routes,
    ticket_routes,
)
from crossbay.admin.routing import router

__all__ = ["router"]

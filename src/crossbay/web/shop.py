"""Pages that show what is on sale: the landing page, new-eSIM packages, and a card's top-up page."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response

from crossbay.api.deps import SessionDep
from crossbay.catalog import service as catalog
from crossbay.db import transaction
from crossbay.esim import service as esims
from crossbay.esim.routes import esim_reads
from crossbay.ledger import service as ledger
from crossbay.web.pages import CustomerDep, PageDep, PageRoute
from crossbay.web.views import REGION_FILTERS, by_kind, esim_view, package_view

router = APIRouter(route_class=PageRoute)


@router.get("/")
def landing(page: PageDep, session: SessionDep) -> Response:
    with transaction(session):
        packages = catalog.list_packages(session, purpose="new_esim")
    return page.render("landing.html", packages=[package_view(p, page.language) for p in packages])


@router.get("/buy")
def buy(page: PageDep, session: SessionDep) -> Response:
    """Browsing is open to anyone; choosing a package asks for sign-in on the way to checkout."""
    with transaction(session):
        packages = catalog.list_packages(session, purpose="new_esim")
    return page.render("buy.html", packages=[package_view(p, page.language) for p in packages])


@router.get("/esims/{esim_id}/topup")
def top_up(
    esim_id: str,
    page: PageDep,
    customer: CustomerDep,
    session: SessionDep,
    region: Annotated[str | None, Query(max_length=8)] = None,
) -> Response:
    # An unknown region shows everything rather than an error: the filter links are the only source.
    chosen = region if region in REGION_FILTERS else None
    with transaction(session):
        esim = esims.get_owned_esim(session, customer_id=customer.id, esim_id=esim_id)
        view = esim_view(
            esim_reads(session, [esim], page.language)[0], can_top_up=esim.status in esims.TOPUP_ALLOWED
        )
        balance = ledger.wallet_balance(session, customer.id)
        packages = catalog.list_packages(session, purpose="topup", region=chosen)
    return page.render(
        "topup.html",
        esim=view,
        balance=page.money(balance),
        region=chosen,
        regions=REGION_FILTERS,
        packages=by_kind([package_view(p, page.language) for p in packages]),
    )

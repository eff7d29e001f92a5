"""An eSIM's page: how to install it (QR, activation code, one-tap links) and what quota it holds."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from crossbay.api.deps import SessionDep
from crossbay.db import transaction
from crossbay.esim import service as esims
from crossbay.esim.activation import parse_activation_code, qr_svg
from crossbay.esim.routes import esim_reads, owned_activation_code
from crossbay.usage import service as usage
from crossbay.web.pages import CustomerDep, PageDep, PageRoute
from crossbay.web.usage_views import CHART_DAYS, usage_chart
from crossbay.web.views import esim_view

router = APIRouter(route_class=PageRoute)

IOS, ANDROID = "ios", "android"


def platform_of(user_agent: str | None) -> str | None:
    """The phone the page is open on, from its user agent; None on a computer or anything unclear.

    iPadOS asks for desktop pages and says "Macintosh": such a visitor sees both
    links, iPhone first, which is what they would pick.
    """
    agent = (user_agent or "").lower()
    if "android" in agent:
        return ANDROID
    if any(device in agent for device in ("iphone", "ipad", "ipod")):
        return IOS
    return None


# While the SM-DP+ prepares the profile there is nothing to install yet; look again shortly.
PREPARING_REFRESH_SECONDS = 2
_NO_STORE = {"Cache-Control": "private, no-store"}  # the code installs the profile: never cache it


@router.get("/esims/{esim_id}")
def esim_page(esim_id: str, page: PageDep, customer: CustomerDep, session: SessionDep) -> Response:
    with transaction(session):
        esim = esims.get_owned_esim(session, customer_id=customer.id, esim_id=esim_id)
        read = esim_reads(session, [esim], page.language)[0]
        daily = usage.daily_usage(session, esim_id=esim.id, days=CHART_DAYS, now=page.runtime.clock.now())
    smdp_address, matching_id = (
        parse_activation_code(read.activation_code) if read.activation_code else (None, None)
    )
    platform = platform_of(page.request.headers.get("user-agent"))
    return page.render(
        "esim.html",
        esim=esim_view(read, can_top_up=read.status in esims.TOPUP_ALLOWED),
        # The visitor's own platform first; on a computer both, iPhone first.
        platforms=[platform, ANDROID if platform == IOS else IOS] if platform else [IOS, ANDROID],
        on_phone=platform is not None,
        smdp_address=smdp_address,
        matching_id=matching_id,
        refresh=PREPARING_REFRESH_SECONDS if read.activation_code is None else None,
        chart=usage_chart(daily, {d.day: page.calendar_day(d.day, short=True) for d in daily}),
    )


@router.get("/esims/{esim_id}/qr.svg")
def esim_qr(esim_id: str, customer: CustomerDep, session: SessionDep) -> Response:
    code = owned_activation_code(session, customer_id=customer.id, esim_id=esim_id)
    return Response(qr_svg(code), media_type="image/svg+xml", headers=_NO_STORE)

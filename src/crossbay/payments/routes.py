"""Provider notifications: POST /webhooks/{card,alipay,wechatpay}, each verified by its own protocol."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from fastapi import APIRouter, Request, Response

from crossbay.api.deps import ClockDep, RuntimeDep, SessionDep, SettingsDep
from crossbay.db import transaction
from crossbay.errors import CrossbayError
from crossbay.orders import service as orders

log = logging.getLogger("crossbay.webhooks")
router = APIRouter(tags=["partner endpoints"])

# Each provider's notification endpoint; the adapter in Runtime.providers does the protocol.
PROVIDER_NAMES = ("card", "alipay", "wechatpay")


def _notification_endpoint(
    name: str,
) -> Callable[[Request, SessionDep, RuntimeDep, SettingsDep, ClockDep], Awaitable[Response]]:
    async def receive(
        request: Request, session: SessionDep, runtime: RuntimeDep, settings: SettingsDep, clock: ClockDep
    ) -> Response:
        provider = runtime.providers[name]
        # Signatures cover the raw bytes: read them before anything parses the body.
        body = await request.body()
        try:
            notice = provider.read_notification(request.headers, body, now=clock.now())
            if notice is not None:
                with transaction(session):
                    orders.apply_payment_notice(session, notice, settings=settings, now=clock.now())
        except CrossbayError as error:
            # A refused notice is an attack or a provider-side mistake: operators must see it.
            log.warning("payment notification refused", extra={"provider": name, "code": error.code})
            raise
        ack = provider.acknowledgement()
        return Response(ack.body, status_code=ack.status, media_type=ack.media_type)

    return receive


for _name in PROVIDER_NAMES:
    router.add_api_route(
        f"/webhooks/{_name}",
        _notification_endpoint(_name),
        methods=["POST"],
        name=f"{_name}_notification",
        summary=f"{_name} payment notifications",
        responses={200: {"description": "applied, or a repeat acknowledged"}},
    )

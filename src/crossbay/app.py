"""create_app: one FastAPI app for the API, pages, partner endpoints and (in sandbox mode) sandboxes."""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

from fastapi import FastAPI, Request, Response
from fastapi.staticfiles import StaticFiles

from crossbay.admin.routes import router as admin_router
from crossbay.api.ops import REQUEST_SECONDS
from crossbay.api.ops import router as ops_router
from crossbay.api.problems import install_problem_handlers
from crossbay.audit.routes import router as audit_router
from crossbay.catalog.routes import router as catalog_router
from crossbay.esim.callbacks import router as esim_callbacks_router
from crossbay.esim.routes import router as esim_router
from crossbay.identity.routes import router as identity_router
from crossbay.kyc.routes import router as kyc_router
from crossbay.network.routes import router as network_router
from crossbay.notify.routes import router as notify_router
from crossbay.orders.routes import router as orders_router
from crossbay.payments.routes import router as webhooks_router
from crossbay.payments.wallet_routes import router as wallet_router
from crossbay.promotions.routes import router as promotions_router
from crossbay.runtime import Runtime
from crossbay.settings import Settings
from crossbay.support.routes import router as support_router
from crossbay.usage.routes import router as usage_router
from crossbay.web.routes import STATIC_DIR
from crossbay.web.routes import router as web_router

log = logging.getLogger("crossbay.http")


def security_headers(settings: Settings) -> dict[str, str]:
    """Strict by default. Forms post to us, but checkout answers with a redirect to the provider's
    cashier, and browsers hold that redirect to ``form-action`` too: the providers' origins are allowed.
    """
    origins = {"'self'"}
    for partner in ("card_api", "alipay_gateway", "wechatpay_api"):
        parts = urlsplit(settings.partner_url(partner))
        origins.add(f"{parts.scheme}://{parts.netloc}")
    origins |= set(settings.payment_redirect_origins)
    return {
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        "Referrer-Policy": "same-origin",
        "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; "
        f"script-src 'self'; form-action {' '.join(sorted(origins))}; "
        "frame-ancestors 'none'; base-uri 'self'",
    }


def create_app(runtime: Runtime) -> FastAPI:
    app = FastAPI(
        title="crossbay API",
        version="1",
        description="Cross-border eSIM data service: sign-in, real-name, catalog, orders, eSIMs.",
        openapi_url="/api/v1/openapi.json",
        docs_url="/api/v1/docs",
        redoc_url=None,
    )
    app.state.runtime = runtime
    app.state.security_headers = security_headers(runtime.settings)
    install_problem_handlers(app)
    for router in (
        identity_router,
        kyc_router,
        catalog_router,
        esim_router,
        usage_router,
        network_router,
        esim_callbacks_router,
        orders_router,
        wallet_router,
        promotions_router,
        audit_router,
        support_router,
        notify_router,
        webhooks_router,
        ops_router,
        web_router,
        admin_router,
    ):
        app.include_router(router)
    if runtime.settings.sandbox:
        # Imported only here: with sandbox mode off, no /sandbox path exists at all.
        from crossbay.sandbox import alipay, card, email, network, smdp, sms, wechatpay

        sandboxes = (alipay.router, card.router, email.router, network.router, smdp.router, sms.router)
        for router in (*sandboxes, wechatpay.router):
            app.include_router(router, include_in_schema=False)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.middleware("http")(_observe)
    return app


async def _observe(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
    """Request id, latency histogram and one log line per request: route template, never the raw query."""
    request.state.request_id = request.headers.get("x-request-id", "")[:64] or secrets.token_hex(8)
    started = time.perf_counter()
    status = 500
    try:
        response = await call_next(request)
        status = response.status_code
    finally:
        route = request.scope.get("route")
        template = getattr(route, "path", "unmatched")
        elapsed = time.perf_counter() - started
        REQUEST_SECONDS.labels(request.method, template, str(status)).observe(elapsed)
        log.info(
            "request",
            extra={
                "method": request.method,
                "route": template,
                "status": status,
                "ms": round(elapsed * 1000, 1),
                "request_id": request.state.request_id,
            },
        )
    response.headers["X-Request-Id"] = request.state.request_id
    for name, value in request.app.state.security_headers.items():
        response.headers.setdefault(name, value)
    return response

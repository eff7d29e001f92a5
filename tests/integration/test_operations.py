"""Operations endpoints and the OpenAPI document."""

from __future__ import annotations

import re

import httpx

from tests.conftest import LiveServer
from tests.support.journey import sign_in


def test_health_and_readiness(http: httpx.Client) -> None:
    assert http.get("/healthz").json() == {"status": "ok"}
    assert http.get("/readyz").json() == {"status": "ok"}


def test_metrics_expose_latency_orders_and_queue_depth(http: httpx.Client) -> None:
    sign_in([http])  # a request, an SMS job
    text = http.get("/metrics").text
    assert re.search(
        r'crossbay_http_request_duration_seconds_bucket\{le="[^"]+",method="POST",'
        r'route="/api/v1/auth/otp",status="202"\} [1-9]',
        text,
    )
    assert "crossbay_jobs{" in text
    assert "# TYPE crossbay_orders gauge" in text


def test_openapi_describes_the_v1_contract(http: httpx.Client) -> None:
    document = http.get("/api/v1/openapi.json").json()
    paths = document["paths"]
    for path in (
        "/api/v1/auth/otp",
        "/api/v1/auth/token",
        "/api/v1/auth/refresh",
        "/api/v1/auth/logout",
        "/api/v1/me",
        "/api/v1/me/password",
        "/api/v1/me/identity",
        "/api/v1/packages",
        "/api/v1/packages/{package_id}",
        "/api/v1/devices/compatibility",
        "/api/v1/esims",
        "/api/v1/esims/{esim_id}",
        "/api/v1/esims/{esim_id}/qr.png",
        "/api/v1/orders/quote",
        "/api/v1/orders",
        "/api/v1/orders/{order_id}",
        "/api/v1/orders/{order_id}/pay",
        "/api/v1/orders/{order_id}/cancel",
        "/webhooks/card",
    ):
        assert path in paths, path
    assert not any(p.startswith("/sandbox") for p in paths)
    assert "Package" in str(paths["/api/v1/packages"]) or "PackageList" in str(document["components"])


def test_responses_carry_security_headers_and_a_request_id(http: httpx.Client) -> None:
    response = http.get("/healthz")
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "default-src 'self'" in response.headers["content-security-policy"]
    assert len(response.headers["x-request-id"]) >= 8


def test_sandbox_is_absent_when_sandbox_mode_is_off(server: LiveServer) -> None:
    from fastapi.testclient import TestClient

    from crossbay.app import create_app
    from crossbay.runtime import Runtime

    settings = server.runtime.settings.model_copy(
        update={
            "sandbox": False,
            "card_api_url": "https://api.cards.example",
            "alipay_gateway_url": "https://openapi.alipay.example/gateway.do",
            "wechatpay_api_url": "https://api.mch.weixin.example",
            "payment_redirect_origins": ["https://hooks.cards.example"],
        }
    )
    app = create_app(Runtime(settings=settings, engine=server.runtime.engine))
    with TestClient(app) as client:
        assert client.get("/sandbox/sms/messages").status_code == 404
        assert client.post("/sandbox/pay/card/pi_x/approve").status_code == 404
        csp = client.get("/healthz").headers["content-security-policy"]
        # Checkout's redirect to each provider's cashier must not be blocked by form-action.
        for origin in (
            "https://api.cards.example",
            "https://openapi.alipay.example",
            "https://api.mch.weixin.example",
            "https://hooks.cards.example",
        ):
            assert origin in csp

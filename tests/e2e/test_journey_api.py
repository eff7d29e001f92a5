"""The whole journey over HTTP against real server processes (issue 3's acceptance path).

Once against `crossbay demo` on SQLite, once against two `crossbay serve`
processes and one `crossbay worker` process on PostgreSQL.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from crossbay.esim.activation import iccid_is_valid
from tests.support.journey import buy, first_package, register_identity, sign_in, wait_fulfilled
from tests.support.servers import Deployment, demo_on_sqlite, postgres_schema

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]
LPA = re.compile(r"^LPA:1\$[^$]+\$[^$]+$")


def journey(clients: list[httpx.Client]) -> None:
    customer = sign_in(clients)
    identity = register_identity(customer)
    assert identity["status"] == "verified" and "*" in identity["document_number_masked"]

    package = first_package(customer, "new_esim")
    order = buy(customer, package["id"])
    fulfilled = wait_fulfilled(customer, order["id"])
    assert [e["status"] for e in fulfilled["timeline"] if e["step"] is None] == [
        "pending_payment",
        "paid",
        "fulfilling",
    ]
    assert fulfilled["timeline"][-1]["status"] == "fulfilled"

    esim: dict[str, Any] = customer.get(f"/api/v1/esims/{fulfilled['esim_id']}").json()
    assert LPA.match(esim["activation_code"]), esim["activation_code"]
    assert iccid_is_valid(esim["iccid"])
    assert esim["install_links"]["ios"].startswith(
        "https://esimsetup.apple.com/esim_qrcode_provisioning?carddata="
    )
    qr = customer.get(esim["qr_url"])
    assert qr.status_code == 200 and qr.content.startswith(b"\x89PNG")
    [bundle] = esim["bundles"]
    assert bundle["package_id"] == package["id"] and bundle["total_mb"] == package["data_mb"]
    assert bundle["remaining_mb"] == package["data_mb"]

    topup = first_package(customer, "topup")
    second = buy(customer, topup["id"], esim_id=esim["id"])
    wait_fulfilled(customer, second["id"])
    bundles = customer.get(f"/api/v1/esims/{esim['id']}").json()["bundles"]
    assert [b["package_id"] for b in bundles] == [package["id"], topup["id"]]
    assert bundles[1]["total_mb"] == topup["data_mb"]
    assert customer.get("/api/v1/esims").json()["items"][0]["id"] == esim["id"]


def test_journey_on_crossbay_demo_with_sqlite() -> None:
    with demo_on_sqlite() as (_, demo), httpx.Client(base_url=demo.url or "", timeout=30) as client:
        journey([client])


@pytest.fixture
def postgres_deployment() -> Iterator[tuple[Deployment, list[str]]]:
    with postgres_schema() as url:
        deployment = Deployment(url)
        try:
            yield deployment, deployment.start_cluster(servers=2)
        finally:
            deployment.stop()


def test_journey_on_two_servers_and_a_worker_with_postgresql(
    postgres_deployment: tuple[Deployment, list[str]],
) -> None:
    _, urls = postgres_deployment
    clients = [httpx.Client(base_url=url, timeout=30) for url in urls]
    try:
        journey(clients)
    finally:
        for client in clients:
            client.close()

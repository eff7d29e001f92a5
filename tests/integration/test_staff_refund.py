"""`crossbay orders refund` and `crossbay ledger check` against a running service's database."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.conftest import LiveServer
from tests.support.journey import (
    Customer,
    buy,
    first_package,
    poll,
    wait_fulfilled,
)
from tests.support.servers import CROSSBAY


def cli(server: LiveServer, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CROSSBAY_")}
    env.update(
        CROSSBAY_DATABASE_URL=server.runtime.settings.database_url,
        CROSSBAY_SANDBOX="1",
        CROSSBAY_VAR_DIR=str(tmp_path),
    )
    return subprocess.run([CROSSBAY, *args], env=env, capture_output=True, text=True, timeout=60, check=False)


def test_staff_refund_of_a_delivered_order(customer: Customer, server: LiveServer, tmp_path: Path) -> None:
    order = wait_fulfilled(customer, buy(customer, first_package(customer, "new_esim")["id"])["id"])
    refused = cli(server, tmp_path, "orders", "refund", "ord_nope", "--reason", "test")
    assert refused.returncode == 1 and "not_found" in refused.stderr

    queued = cli(server, tmp_path, "orders", "refund", order["id"], "--reason", "customer asked")
    assert queued.returncode == 0, queued.stderr
    refunded = poll(
        lambda: customer.get(f"/api/v1/orders/{order['id']}").json(), lambda o: o["status"] == "refunded"
    )
    assert refunded["payment"]["status"] == "refunded"
    [bundle] = customer.get(f"/api/v1/esims/{order['esim_id']}").json()["bundles"]
    assert bundle["status"] == "expired" and bundle["remaining_mb"] == 0

    again = cli(server, tmp_path, "orders", "refund", order["id"], "--reason", "twice")
    assert again.returncode == 1 and "order_not_refundable" in again.stderr

    check = cli(server, tmp_path, "ledger", "check")
    assert check.returncode == 0, check.stdout + check.stderr
    assert "ledger: balanced" in check.stdout

"""A worker SIGKILLed in the middle of fulfilment loses nothing and provisions once."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.support.journey import buy, first_package, poll, register_identity, sign_in, wait_fulfilled
from tests.support.servers import Deployment, free_port, postgres_schema

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]


@contextmanager
def database(engine: str) -> Iterator[str]:
    if engine == "postgresql":
        with postgres_schema() as url:
            yield url
    else:
        directory = tempfile.mkdtemp(prefix="crossbay-crash-")
        try:
            yield f"sqlite:///{directory}/crossbay.db"
        finally:
            shutil.rmtree(directory, ignore_errors=True)


@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
def test_killed_worker_is_replaced_and_the_order_is_fulfilled_once(engine: str) -> None:
    with database(engine) as url:
        port = free_port()
        deployment = Deployment(
            url,
            extra_env={
                "CROSSBAY_BASE_URL": f"http://127.0.0.1:{port}",
                "CROSSBAY_JOB_LEASE_SECONDS": "3",
                "CROSSBAY_JOB_BACKOFF_SECONDS": "0.2",
            },
        )
        try:
            deployment.run("db", "upgrade")
            deployment.run("seed")
            server = deployment.start("serve", "serve", "--port", str(port), port=port)
            with httpx.Client(base_url=server.url or "", timeout=30) as client:
                customer = sign_in_with_worker(deployment, client)
                # The SM-DP+ now takes 5 s per call: the worker will be inside downloadOrder when it dies.
                assert client.put("/sandbox/smdp/faults", json={"delay_seconds": 5}).status_code == 200
                victim = deployment.start("worker-victim", "worker")
                order = buy(customer, first_package(customer, "new_esim")["id"])
                poll(
                    lambda: customer.get(f"/api/v1/orders/{order['id']}").json()["status"],
                    lambda status: status == "fulfilling",
                    timeout=30,
                )
                victim.kill()
                assert client.put("/sandbox/smdp/faults", json={}).status_code == 200
                deployment.start("worker-heir", "worker")
                fulfilled = wait_fulfilled(customer, order["id"], timeout=60)

                assert [e["step"] for e in fulfilled["timeline"]].count("quota_added") == 1
                esims = customer.get("/api/v1/esims").json()["items"]
                assert len(esims) == 1 and len(esims[0]["bundles"]) == 1
                stats = client.get("/sandbox/smdp/stats").json()
                assert stats["allocated"] == 1, stats
        finally:
            deployment.stop()


def sign_in_with_worker(deployment: Deployment, client: httpx.Client):  # type: ignore[no-untyped-def]
    """Sign in and register with a short-lived worker (it sends the SMS), then stop it."""
    helper = deployment.start("worker-signin", "worker")
    customer = sign_in([client])
    register_identity(customer)
    helper.stop()
    return customer


_ = Path

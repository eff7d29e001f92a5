"""Wallet payments per second on PostgreSQL, against pgbench on the same server.

Starts two `crossbay serve` processes and a worker on a fresh schema; each
of N customers holds an eSIM and a wallet topped up by card, then pays
top-up orders from the wallet with the PIN, concurrently. The measured part
is POST /orders (wallet) + POST /orders/{id}/pay: the money path, where every
payment takes its wallet's row lock and posts to the ledger. pgbench's
tpcb-like run on the same server gives the ratio.

    make bench
    python bench/wallet.py --payments 400 --concurrency 8
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.journey import run_pgbench
from tests.support.journey import (
    Customer,
    buy,
    first_package,
    poll,
    register_identity,
    sign_in,
    wait_fulfilled,
)
from tests.support.servers import Deployment, postgres_schema

PASSWORD = "harbour-lantern-92"
PIN = "482915"


def ready_customer(clients: list[httpx.Client], top_up_cents: int) -> tuple[Customer, str]:
    customer = sign_in(clients)
    register_identity(customer)
    assert (
        customer.client()
        .put("/api/v1/me/password", json={"new_password": PASSWORD}, headers=customer.auth())
        .status_code
        == 204
    )
    assert (
        customer.client()
        .put("/api/v1/me/payment-pin", json={"pin": PIN, "password": PASSWORD}, headers=customer.auth())
        .status_code
        == 204
    )
    esim_id = wait_fulfilled(customer, buy(customer, first_package(customer, "new_esim")["id"])["id"])[
        "esim_id"
    ]
    topup = customer.post(
        "/api/v1/wallet/topups",
        json={"amount": {"amount": top_up_cents, "currency": "HKD"}, "payment_method": "card"},
    ).json()
    customer.client().post(f"/sandbox/pay/card/{topup['payment']['reference']}/approve")
    poll(
        lambda: customer.get(f"/api/v1/wallet/topups/{topup['id']}").json()["status"],
        lambda s: s == "completed",
    )
    return customer, str(esim_id)


def run_wallet(payments: int, concurrency: int) -> dict[str, float]:
    with postgres_schema() as url:
        deployment = Deployment(url, extra_env={"CROSSBAY_LOG_LEVEL": "WARNING"})
        try:
            urls = deployment.start_cluster(servers=2)
            clients = [
                httpx.Client(base_url=u, timeout=60, limits=httpx.Limits(max_connections=concurrency * 2))
                for u in urls
            ]
            items = clients[0].get("/api/v1/packages", params={"for": "topup"}).json()["items"]
            package = min(items, key=lambda p: p["price"]["amount"])
            per_customer = -(-payments // concurrency)
            budget = min(100_000, per_customer * package["price"]["amount"])
            assert budget >= per_customer * package["price"]["amount"], (
                "raise the top-up limit or lower --payments"
            )
            holders = [ready_customer(clients, budget) for _ in range(concurrency)]

            latencies: list[float] = []

            def pay(index: int) -> None:
                customer, esim_id = holders[index % concurrency]
                started = time.perf_counter()
                order = customer.post(
                    "/api/v1/orders",
                    json={"package_id": package["id"], "esim_id": esim_id, "payment_method": "wallet"},
                    headers={"Idempotency-Key": str(uuid.uuid4())},
                ).json()
                paid = customer.post(f"/api/v1/orders/{order['id']}/pay", json={"pin": PIN})
                assert paid.status_code == 200, paid.text
                latencies.append(time.perf_counter() - started)

            started = time.perf_counter()
            with ThreadPoolExecutor(concurrency) as pool:
                list(pool.map(pay, range(payments)))
            elapsed = time.perf_counter() - started
            for client in clients:
                client.close()
            latencies.sort()
            return {
                "payments": payments,
                "seconds": elapsed,
                "per_second": payments / elapsed,
                "p50": statistics.median(latencies),
                "p95": latencies[int(len(latencies) * 0.95) - 1],
            }
        finally:
            deployment.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--payments", type=int, default=320)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--pgbench-seconds", type=int, default=15)
    args = parser.parse_args()

    tps = run_pgbench(args.pgbench_seconds, args.concurrency)
    result = run_wallet(args.payments, args.concurrency)
    print(f"pgbench tpcb-like ({args.concurrency} clients, {args.pgbench_seconds}s): {tps:,.1f} tps")
    print(
        f"wallet payments ({result['payments']:.0f}, {args.concurrency} concurrent customers, 2 serve): "
        f"{result['per_second']:.1f} payments/s in {result['seconds']:.1f}s; "
        f"p50 {result['p50'] * 1000:.0f} ms, p95 {result['p95'] * 1000:.0f} ms (order + PIN payment)"
    )
    print(f"ratio: {result['per_second'] / tps:.4f} wallet payments per pgbench transaction")


if __name__ == "__main__":
    main()

"""Paid-and-fulfilled orders per second on PostgreSQL, against pgbench on the same server.

Starts two `crossbay serve` processes and one `crossbay worker` on a fresh
PostgreSQL schema, signs in customers, then has them buy top-ups by card
concurrently (create order → sandbox approve → signed webhook → worker
fulfils). Throughput is orders fulfilled per second of wall time. In the same
run, PostgreSQL's own pgbench (tpcb-like) runs against the same server so the
ratio means something on a shared machine.

    make bench                       # defaults
    python bench/journey.py --orders 200 --concurrency 8
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import sqlalchemy as sa
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.journey import (
    Customer,
    buy,
    first_package,
    register_identity,
    sign_in,
    wait_fulfilled,
)
from tests.support.servers import Deployment, postgres_schema, postgres_url


def run_journey(orders: int, concurrency: int) -> dict[str, float]:
    with postgres_schema() as url:
        deployment = Deployment(url, extra_env={"CROSSBAY_LOG_LEVEL": "WARNING"})
        try:
            urls = deployment.start_cluster(servers=2)
            clients = [
                httpx.Client(
                    base_url=url,
                    timeout=60,
                    limits=httpx.Limits(max_connections=concurrency * 2),
                )
                for url in urls
            ]
            customers = [_customer_with_esim(clients) for _ in range(concurrency)]
            package_id = first_package(customers[0], "topup")["id"]

            latencies: list[float] = []
            started = time.perf_counter()

            def one(index: int) -> None:
                customer = customers[index % concurrency]
                t0 = time.perf_counter()
                order = buy(customer, package_id, esim_id=customer.esim_id)  # type: ignore[attr-defined]
                wait_fulfilled(customer, order["id"], timeout=300)
                latencies.append(time.perf_counter() - t0)

            with ThreadPoolExecutor(concurrency) as pool:
                list(pool.map(one, range(orders)))
            elapsed = time.perf_counter() - started
            for client in clients:
                client.close()
            latencies.sort()
            return {
                "orders": orders,
                "seconds": elapsed,
                "orders_per_second": orders / elapsed,
                "p50_seconds": statistics.median(latencies),
                "p95_seconds": latencies[int(len(latencies) * 0.95) - 1],
            }
        finally:
            deployment.stop()


def _customer_with_esim(clients: list[httpx.Client]) -> Customer:
    customer = sign_in(clients)
    register_identity(customer)
    order = buy(customer, first_package(customer, "new_esim")["id"])
    fulfilled = wait_fulfilled(customer, order["id"], timeout=120)
    customer.esim_id = fulfilled["esim_id"]  # type: ignore[attr-defined]
    return customer


def run_pgbench(seconds: int, clients: int) -> float:
    """tpcb-like tps on the same server, in a throwaway schema."""
    url = make_url(postgres_url())
    schema = f"pgbench_{uuid.uuid4().hex[:8]}"
    engine = sa.create_engine(postgres_url())
    with engine.begin() as connection:
        connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    env = {
        **os.environ,
        "PGOPTIONS": f"-csearch_path={schema}",
        "PGHOST": url.host or "127.0.0.1",
        "PGPORT": str(url.port or 5432),
        "PGUSER": url.username or "postgres",
    }
    database = url.database or "test"
    try:
        subprocess.run(["pgbench", "-i", "-q", "-s", "1", database], env=env, check=True, capture_output=True)
        result = subprocess.run(
            ["pgbench", "-c", str(clients), "-j", "2", "-T", str(seconds), "-n", database],
            env=env,
            check=True,
            capture_output=True,
            text=True,
        )
        match = re.search(r"tps = ([\d.]+)", result.stdout)
        assert match, result.stdout
        return float(match.group(1))
    finally:
        with engine.begin() as connection:
            connection.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=120)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--pgbench-seconds", type=int, default=15)
    args = parser.parse_args()

    tps = run_pgbench(args.pgbench_seconds, args.concurrency)
    journey = run_journey(args.orders, args.concurrency)
    ratio = journey["orders_per_second"] / tps
    print(f"pgbench tpcb-like ({args.concurrency} clients, {args.pgbench_seconds}s): {tps:,.1f} tps")
    print(
        f"crossbay journey ({journey['orders']:.0f} top-ups, {args.concurrency} concurrent customers, "
        f"2 serve + 1 worker): {journey['orders_per_second']:.2f} paid-and-fulfilled orders/s "
        f"in {journey['seconds']:.1f}s; order latency p50 {journey['p50_seconds']:.2f}s, "
        f"p95 {journey['p95_seconds']:.2f}s"
    )
    print(
        f"ratio: {ratio:.5f} orders per pgbench transaction ({1 / ratio:,.0f} pgbench transactions per order)"
    )


if __name__ == "__main__":
    main()

"""Operations: /healthz, /readyz, /metrics."""

from __future__ import annotations

from collections.abc import Iterator

from alembic.runtime.migration import MigrationContext
from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from crossbay.api.deps import RuntimeDep
from crossbay.db import transaction
from crossbay.esim.inventory import stock_metrics
from crossbay.jobs import service as jobs
from crossbay.migrate import head_revision
from crossbay.orders import service as order_service
from crossbay.runtime import Runtime
from crossbay.support.metrics import support_metrics

router = APIRouter(tags=["operations"])

REGISTRY = CollectorRegistry()
REQUEST_SECONDS = Histogram(
    "crossbay_http_request_duration_seconds",
    "HTTP request latency by route template",
    ["method", "route", "status"],
    registry=REGISTRY,
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)


class DatabaseCollector(Collector):
    """Gauges read from the database at scrape time: right whichever process serves the scrape."""

    def __init__(self) -> None:
        self.runtime: Runtime | None = None

    def collect(self) -> Iterator[Metric]:
        if self.runtime is None:
            return
        orders = GaugeMetricFamily("crossbay_orders", "Orders by status", labels=["status"])
        queue = GaugeMetricFamily(
            "crossbay_jobs", "Outbox jobs by status (queue depth: pending)", labels=["status"]
        )
        with self.runtime.sessions() as session, transaction(session):
            for status, count in order_service.count_by_status(session).items():
                orders.add_metric([status], count)
            for status, count in jobs.queue_depth(session).items():
                queue.add_metric([status], count)
            support = support_metrics(session)
            stock = stock_metrics(session, threshold=self.runtime.settings.profile_stock_low_threshold)
        yield orders
        yield queue
        yield from support
        yield from stock


DATABASE_COLLECTOR = DatabaseCollector()
REGISTRY.register(DATABASE_COLLECTOR)


@router.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz")
def readyz(runtime: RuntimeDep) -> JSONResponse:
    try:
        with runtime.engine.connect() as connection:
            current = MigrationContext.configure(connection).get_current_revision()
    except Exception:
        return JSONResponse({"status": "unavailable", "database": "unreachable"}, status_code=503)
    if current != head_revision():
        return JSONResponse({"status": "unavailable", "database": "migrations pending"}, status_code=503)
    return JSONResponse({"status": "ok"})


@router.get("/metrics", response_class=Response)
def metrics(runtime: RuntimeDep) -> Response:
    DATABASE_COLLECTOR.runtime = runtime
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)

"""Support's Prometheus families, read from the database at scrape time like the order gauges."""

from __future__ import annotations

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from sqlalchemy.orm import Session

from crossbay.support import service as support


def support_metrics(session: Session) -> list[Metric]:
    opened, unresolved = support.count_late_order_tickets(session)
    late = CounterMetricFamily(
        "crossbay_late_orders", "Paid orders the late-order watch found unfulfilled in time (one ticket each)"
    )
    late.add_metric([], opened)
    waiting = GaugeMetricFamily("crossbay_late_orders_unresolved", "Late-order tickets not yet resolved")
    waiting.add_metric([], unresolved)
    return [late, waiting]

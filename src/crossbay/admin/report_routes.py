"""Reports: daily figures per currency in Hong Kong days, a bar chart of sales, and CSV export."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated

from fastapi import Query
from fastapi.responses import Response

from crossbay.admin import reports
from crossbay.admin.charts import bar_chart
from crossbay.admin.permissions import Action
from crossbay.admin.routing import AdminPageDep, get
from crossbay.api.deps import RuntimeDep, SessionDep
from crossbay.catalog import service as catalog
from crossbay.clock import hk_date
from crossbay.db import transaction
from crossbay.i18n import localized
from crossbay.money import Money

DEFAULT_DAYS = 14
# The report page and its CSV take the same range, as ?from=YYYY-MM-DD&to=YYYY-MM-DD.
FromDay = Annotated[date | None, Query(alias="from")]
ToDay = Annotated[date | None, Query(alias="to")]


def _range(runtime: RuntimeDep, start: date | None, end: date | None) -> tuple[date, date]:
    last = end or hk_date(runtime.clock.now())
    return reports.clamp_range(start or last - timedelta(days=DEFAULT_DAYS - 1), last)


@get("/reports", Action.REPORTS_VIEW)
def report_page(
    page: AdminPageDep,
    session: SessionDep,
    runtime: RuntimeDep,
    start: FromDay = None,
    end: ToDay = None,
) -> Response:
    first, last = _range(runtime, start, end)
    with transaction(session):
        found = reports.daily_reports(session, start=first, end=last)
        package_ids = {p for report in found for p in report.packages()}
        names = {
            pid: localized(package.names, page.language)
            for pid, package in catalog.get_packages(session, package_ids).items()
        }
    charts = {
        report.currency: bar_chart(
            [
                (
                    day.day.strftime("%m-%d"),
                    day.sales,
                    Money(day.sales, report.currency).format(page.language),
                )
                for day in report.days
            ],
            top_value=Money(max((d.sales for d in report.days), default=0), report.currency).format(
                page.language
            ),
        )
        for report in found
    }
    return page.render(
        "reports.html",
        reports=found,
        charts=charts,
        names=names,
        start=first,
        end=last,
        csv_url=page.url("/admin/reports.csv", **{"from": first.isoformat(), "to": last.isoformat()}),
    )


@get("/reports.csv", Action.REPORTS_VIEW)
def report_csv(
    session: SessionDep,
    runtime: RuntimeDep,
    start: FromDay = None,
    end: ToDay = None,
) -> Response:
    first, last = _range(runtime, start, end)
    with transaction(session):
        found = reports.daily_reports(session, start=first, end=last)
    return Response(
        reports.to_csv(found),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="crossbay-daily-{first}-{last}.csv"',
            "Cache-Control": "private, no-store",
        },
    )

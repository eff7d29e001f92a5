"""Reconciliation results (payments context) and the audit log (audit context)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated

from fastapi import Query
from fastapi.responses import Response

from crossbay.admin.permissions import Action
from crossbay.admin.routing import AdminPageDep, get
from crossbay.api.deps import RuntimeDep, SessionDep
from crossbay.audit import service as audit_log
from crossbay.clock import hk_date
from crossbay.db import transaction
from crossbay.payments import reconciliation

PROVIDERS = ("card", "alipay", "wechatpay")
DAYS = 14
AUDIT_PAGE = 100


@get("/reconciliation", Action.RECONCILIATION_VIEW)
def runs(
    page: AdminPageDep,
    session: SessionDep,
    runtime: RuntimeDep,
    day: Annotated[date | None, Query()] = None,
    provider: Annotated[str | None, Query(max_length=16)] = None,
) -> Response:
    yesterday = hk_date(runtime.clock.now()) - timedelta(days=1)
    days = [yesterday - timedelta(days=n) for n in range(DAYS)]
    with transaction(session):
        table = [(d, [reconciliation.get_run(session, provider=p, day=d) for p in PROVIDERS]) for d in days]
        chosen = None
        differences = []
        if day is not None and provider in PROVIDERS:
            chosen = reconciliation.get_run(session, provider=provider, day=day)
            if chosen is not None:
                differences = reconciliation.differences_of(session, chosen.id)
    return page.render(
        "reconciliation.html", table=table, providers=PROVIDERS, chosen=chosen, differences=differences
    )


@get("/audit", Action.AUDIT_VIEW)
def audit_page(
    page: AdminPageDep,
    session: SessionDep,
    actor: Annotated[str | None, Query(max_length=16)] = None,
    action: Annotated[str | None, Query(max_length=64)] = None,
    customer: Annotated[str | None, Query(max_length=40)] = None,
) -> Response:
    kind = actor if actor in ("customer", "staff", "system") else None
    with transaction(session):
        events = audit_log.list_events(
            session,
            limit=AUDIT_PAGE,
            actor_kind=kind,
            action=action or None,
            customer_id=customer or None,
        )
    return page.render(
        "audit.html", events=events, actor=kind or "", action=action or "", customer=customer or ""
    )

"""eSIMs: find one by ICCID or id, read its timeline, suspend, resume or terminate it (eSIM context)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Form, Query
from fastapi.responses import Response

from crossbay.admin import audit
from crossbay.admin.errors import ReasonRequired
from crossbay.admin.permissions import Action
from crossbay.admin.routing import ActorDep, AdminPageDep, get, post, redirect
from crossbay.api.deps import RuntimeDep, SessionDep
from crossbay.db import transaction
from crossbay.errors import FieldProblem, NotFound
from crossbay.esim import inventory, lifecycle
from crossbay.esim import service as esims
from crossbay.esim.states import TRANSITIONS
from crossbay.usage import service as usage


@get("/esims", Action.ESIMS_VIEW)
def find(
    page: AdminPageDep,
    session: SessionDep,
    runtime: RuntimeDep,
    q: Annotated[str | None, Query(max_length=40)] = None,
) -> Response:
    text = (q or "").strip()
    if text:
        with transaction(session):
            esim = (
                esims.get_esim(session, text)
                if text.startswith("esim_")
                else esims.get_esim_by_iccid(session, text)
            )
        if esim is not None:
            return redirect(f"/admin/esims/{esim.id}")
    with transaction(session):
        stock = inventory.stock_levels(session, threshold=runtime.settings.profile_stock_low_threshold)
    return page.render("esims.html", searched=bool(text), q=text, stock=stock)


@get("/esims/{esim_id}", Action.ESIMS_VIEW)
def detail(
    esim_id: str,
    page: AdminPageDep,
    session: SessionDep,
    done: Annotated[str | None, Query(max_length=16)] = None,
) -> Response:
    with transaction(session):
        esim = esims.get_esim(session, esim_id)
        if esim is None:
            raise NotFound()
        timeline = esims.timelines_for(session, [esim.id])[esim.id]
        bundles = usage.bundles_for(session, [esim.id]).get(esim.id, [])
    allowed_next = TRANSITIONS.get(esim.status, frozenset())
    return page.render(
        "esim.html",
        esim=esim,
        timeline=timeline,
        bundles=bundles,
        can_suspend="suspended" in allowed_next,
        can_resume=esim.status == "suspended",
        can_terminate="terminated" in allowed_next,
        flash=page._("Done.") if done else None,
    )


def _reason(reason: str) -> str:
    cleaned = " ".join(reason.split())
    if len(cleaned) < 3:
        raise ReasonRequired(errors=[FieldProblem("reason", "reason_required", "Give a reason")])
    return cleaned[:500]


@post("/esims/{esim_id}/suspend", Action.ESIMS_SUSPEND)
def suspend(
    esim_id: str,
    session: SessionDep,
    runtime: RuntimeDep,
    actor: ActorDep,
    reason: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    return _act(esim_id, session, runtime, actor, reason, "suspend")


@post("/esims/{esim_id}/resume", Action.ESIMS_SUSPEND)
def resume(
    esim_id: str,
    session: SessionDep,
    runtime: RuntimeDep,
    actor: ActorDep,
    reason: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    return _act(esim_id, session, runtime, actor, reason, "resume")


@post("/esims/{esim_id}/terminate", Action.ESIMS_TERMINATE)
def terminate(
    esim_id: str,
    session: SessionDep,
    runtime: RuntimeDep,
    actor: ActorDep,
    reason: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    return _act(esim_id, session, runtime, actor, reason, "terminate")


_AUDIT_ACTIONS = {
    "suspend": audit.ESIM_SUSPENDED,
    "resume": audit.ESIM_RESUMED,
    "terminate": audit.ESIM_TERMINATED,
}


def _act(
    esim_id: str, session: SessionDep, runtime: RuntimeDep, actor: ActorDep, reason: str, what: str
) -> Response:
    why, now = _reason(reason), runtime.clock.now()
    with transaction(session):
        if esims.get_esim(session, esim_id) is None:
            raise NotFound()
        if what == "suspend":
            esim = lifecycle.suspend_esim(session, esim_id=esim_id, reason=why, now=now)
        elif what == "resume":
            esim = lifecycle.resume_esim(session, esim_id=esim_id, reason=why, now=now)
        else:
            esim = lifecycle.terminate_esim(
                session, esim_id=esim_id, reason=why, settings=runtime.settings, now=now
            )
        audit.record(
            session,
            actor,
            action=_AUDIT_ACTIONS[what],
            target=("esim", esim.id),
            customer_id=esim.customer_id,
            now=now,
            changes=[audit.Change("status", None, esim.status)],
            context={"reason": why[:200]},
        )
    return redirect(f"/admin/esims/{esim_id}?done={what}")

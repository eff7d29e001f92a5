"""Promotions and coupons: the list with uses, a coupon or threshold offer created, switched off or on,
codes generated in bulk and exported as CSV. Every change goes through crossbay.promotions.campaigns."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, Form, Query, Request
from fastapi.responses import Response

from crossbay.admin import audit
from crossbay.admin import promotions as screens
from crossbay.admin.permissions import Action
from crossbay.admin.promotions import FormValues
from crossbay.admin.rendering import AdminPage
from crossbay.admin.routing import ActorDep, AdminPageDep, get, post, redirect
from crossbay.api.deps import RuntimeDep, SessionDep
from crossbay.catalog.service import KINDS
from crossbay.clock import HONG_KONG
from crossbay.db import transaction
from crossbay.errors import ValidationFailed
from crossbay.i18n import localized
from crossbay.promotions import campaigns
from crossbay.promotions.campaigns import COUPON, CURRENCIES, THRESHOLD
from crossbay.promotions.models import Promotion

PROMOTION_CREATED = "promotion.created"
PROMOTION_SWITCHED = "promotion.switched"
COUPON_CODES_GENERATED = "coupon_codes.generated"
COUPON_CODES_EXPORTED = "coupon_codes.exported"


async def _form(request: Request) -> FormValues:
    # Already parsed by the CSRF check; this reads the same copy.
    return FormValues((await request.form()).multi_items())


FormDep = Annotated[FormValues, Depends(_form)]


def _name(page: AdminPage) -> Callable[[Promotion], str]:
    return lambda promotion: localized(promotion.names, page.language)


def _local(at: datetime | None) -> str:
    """A stored time as a ``datetime-local`` field shows it (Hong Kong wall clock)."""
    return at.astimezone(HONG_KONG).strftime("%Y-%m-%dT%H:%M") if at else ""


@get("/promotions", Action.PROMOTIONS_VIEW)
def promotion_list(page: AdminPageDep, session: SessionDep, runtime: RuntimeDep) -> Response:
    now = runtime.clock.now()
    with transaction(session):
        summaries = campaigns.list_promotions(session)
        uses = screens.uses_of(session, [s.promotion.id for s in summaries])
    return page.render(
        "promotions.html",
        summaries=summaries,
        uses=uses,
        state_of=lambda p: screens.status_of(p, now),
        name=_name(page),
        tiers=campaigns.tiers_of,
    )


def _form_page(
    page: AdminPage,
    session: SessionDep,
    kind: str,
    form: FormValues,
    *,
    problems: ValidationFailed | None = None,
) -> Response:
    with transaction(session):
        packages = screens.all_packages(session)
    errors: dict[str, list[str]] = {}
    for problem in problems.errors if problems else []:
        errors.setdefault(problem.field, []).append(page._(problem.message))
    return page.render(
        "promotion_new.html",
        status=422 if problems else 200,
        kind=kind,
        form=form,
        errors=errors,
        packages=packages,
        package_name=lambda p: localized(p.names, page.language),
        kinds=KINDS,
        currencies=CURRENCIES,
        languages_of_names=screens.NAME_LANGUAGES,
        tier_rows=screens.TIER_ROWS,
    )


def _blank(kind: str) -> FormValues:
    defaults = [("discount_type", "fixed"), ("on_show", "1")] if kind == COUPON else [("on_show", "1")]
    return FormValues([*defaults, ("tier_currency_0", "HKD"), ("tier_currency_1", "HKD")])


@get("/promotions/new/{kind}", Action.PROMOTIONS_MANAGE)
def new_promotion(kind: str, page: AdminPageDep, session: SessionDep) -> Response:
    if kind not in (COUPON, THRESHOLD):
        return redirect("/admin/promotions")
    return _form_page(page, session, kind, _blank(kind))


@post("/promotions/new/{kind}", Action.PROMOTIONS_MANAGE)
def create_promotion(
    kind: str,
    page: AdminPageDep,
    session: SessionDep,
    runtime: RuntimeDep,
    actor: ActorDep,
    form: FormDep,
) -> Response:
    if kind not in (COUPON, THRESHOLD):
        return redirect("/admin/promotions")
    now = runtime.clock.now()
    try:
        with transaction(session):
            package_ids = [p.id for p in screens.all_packages(session)]
            if kind == COUPON:
                terms = screens.coupon_terms(form, package_ids=package_ids, now=now)
                promotion = campaigns.create_coupon(session, now=now, **terms)
            else:
                terms = screens.threshold_terms(form, package_ids=package_ids, now=now)
                promotion = campaigns.create_threshold(session, now=now, **terms)
            session.flush()
            audit.record(
                session,
                actor,
                action=PROMOTION_CREATED,
                target=("promotion", promotion.id),
                now=now,
                context=_audit_terms(promotion, terms),
            )
            promotion_id = promotion.id
    except ValidationFailed as problems:
        return _form_page(page, session, kind, form, problems=problems)
    return redirect(f"/admin/promotions/{promotion_id}?done=created")


def _audit_terms(promotion: Promotion, terms: dict[str, Any]) -> dict[str, str | int | bool | None]:
    """What was set up, in plain values (amounts as ``HKD:1000``), for the audit record."""

    def amounts(values: dict[str, int]) -> str:
        return ",".join(f"{currency}:{amount}" for currency, amount in sorted(values.items()))

    return {
        "kind": promotion.kind,
        "discount_type": promotion.discount_type,
        "percent": promotion.percent,
        "amounts": amounts(promotion.amounts),
        "min_spend": amounts(promotion.min_spend),
        "tiers": ",".join(f"{t['currency']}:{t['spend']}-{t['save']}" for t in promotion.tiers),
        "starts_at": promotion.starts_at.isoformat(),
        "ends_at": promotion.ends_at.isoformat() if promotion.ends_at else None,
        "package_ids": ",".join(promotion.package_ids),
        "package_kinds": ",".join(promotion.package_kinds),
        "first_order_only": promotion.first_order_only,
        "per_customer_limit": promotion.per_customer_limit,
        "total_limit": promotion.total_limit,
        # Whether, not which: a code is worth money to whoever reads it (the audit log's rule too).
        "has_shared_code": bool(terms.get("code")),
        "on_show": promotion.on_show,
    }


@get("/promotions/{promotion_id}", Action.PROMOTIONS_VIEW)
def promotion_detail(
    promotion_id: str,
    page: AdminPageDep,
    session: SessionDep,
    runtime: RuntimeDep,
    done: Annotated[str | None, Query(max_length=16)] = None,
    made: Annotated[int | None, Query(ge=0)] = None,
) -> Response:
    now = runtime.clock.now()
    with transaction(session):
        promotion = campaigns.get_promotion(session, promotion_id)
        uses = screens.uses_of(session, [promotion.id])[promotion.id]
        codes, code_count = screens.codes_of(session, promotion.id)
        public = campaigns.public_codes(session, [promotion.id]).get(promotion.id)
        scoped = {p.id: localized(p.names, page.language) for p in screens.all_packages(session)}
    flash = {
        "created": page._("Promotion created."),
        "off": page._("Promotion switched off: its codes no longer apply to new orders."),
        "on": page._("Promotion switched on again."),
        "codes": page._("{count} codes generated.", count=made or 0),
    }.get(done or "")
    return page.render(
        "promotion.html",
        promotion=promotion,
        name=localized(promotion.names, page.language),
        description=localized(promotion.descriptions, page.language) if promotion.descriptions else "",
        state=screens.status_of(promotion, now),
        uses=uses,
        codes=codes,
        code_count=code_count,
        public_code=public,
        tiers_of=campaigns.tiers_of,
        package_names=scoped,
        max_codes=screens.MAX_CODES_PER_REQUEST,
        flash=flash,
    )


@post("/promotions/{promotion_id}/active", Action.PROMOTIONS_MANAGE)
def switch(
    promotion_id: str,
    session: SessionDep,
    runtime: RuntimeDep,
    actor: ActorDep,
    active: Annotated[str, Form(pattern="^(on|off)$")],
) -> Response:
    now = runtime.clock.now()
    with transaction(session):
        before = campaigns.get_promotion(session, promotion_id).active
        promotion = campaigns.set_active(session, promotion_id=promotion_id, active=active == "on")
        audit.record(
            session,
            actor,
            action=PROMOTION_SWITCHED,
            target=("promotion", promotion.id),
            now=now,
            changes=[audit.Change("active", str(before).lower(), str(promotion.active).lower())],
        )
    return redirect(f"/admin/promotions/{promotion_id}?done={active}")


@post("/promotions/{promotion_id}/codes", Action.PROMOTIONS_MANAGE)
def generate(
    promotion_id: str, session: SessionDep, runtime: RuntimeDep, actor: ActorDep, form: FormDep
) -> Response:
    now = runtime.clock.now()
    count, max_uses, prefix = screens.codes_request(form)
    with transaction(session):
        made = campaigns.generate_codes(
            session, promotion_id=promotion_id, count=count, max_uses=max_uses, prefix=prefix, now=now
        )
        audit.record(
            session,
            actor,
            action=COUPON_CODES_GENERATED,
            target=("promotion", promotion_id),
            now=now,
            context={"count": len(made), "max_uses": max_uses, "prefix": prefix or None},
        )
    return redirect(f"/admin/promotions/{promotion_id}?done=codes&made={len(made)}")


@get("/promotions/{promotion_id}/codes.csv", Action.PROMOTIONS_MANAGE)
def export(promotion_id: str, session: SessionDep, runtime: RuntimeDep, actor: ActorDep) -> Response:
    now = runtime.clock.now()
    with transaction(session):
        text = campaigns.export_codes(session, promotion_id=promotion_id)
        # Codes are worth money to whoever holds them: who took a copy is on the record.
        audit.record(
            session,
            actor,
            action=COUPON_CODES_EXPORTED,
            target=("promotion", promotion_id),
            now=now,
            context={"count": max(text.count("\n") - 1, 0)},
        )
    return Response(
        text,
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="crossbay-codes-{promotion_id}.csv"',
            "Cache-Control": "private, no-store",
        },
    )

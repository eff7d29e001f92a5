"""GET /api/v1/esims/{id}/usage: daily data and voice, Hong Kong days."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel

from crossbay.api.auth import CurrentCustomer
from crossbay.api.deps import ClockDep, SessionDep
from crossbay.db import transaction
from crossbay.esim import service as esims
from crossbay.usage import service

router = APIRouter(prefix="/api/v1", tags=["esims"])


class UsageDay(BaseModel):
    date: date
    data_bytes: int
    voice_seconds: int


class UsageDays(BaseModel):
    days: list[UsageDay]


@router.get("/esims/{esim_id}/usage", response_model=UsageDays)
def esim_usage(
    esim_id: str,
    customer: CurrentCustomer,
    session: SessionDep,
    clock: ClockDep,
    days: Annotated[int, Query(ge=1, le=90, description="How many Hong Kong days, today included")] = 30,
) -> UsageDays:
    with transaction(session):
        esims.get_owned_esim(session, customer_id=customer.id, esim_id=esim_id)
        daily = service.daily_usage(session, esim_id=esim_id, days=days, now=clock.now())
    return UsageDays(
        days=[UsageDay(date=d.day, data_bytes=d.data_bytes, voice_seconds=d.voice_seconds) for d in daily]
    )

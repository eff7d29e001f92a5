"""Partner endpoints for the carrier network: usage records and Gy-style credit control.

Authenticated with the network API key (``Authorization: Bearer <CROSSBAY_NETWORK_API_KEY>``).
"""

from __future__ import annotations

import hmac
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from crossbay.api.deps import ClockDep, RuntimeDep, SessionDep, SettingsDep
from crossbay.db import transaction
from crossbay.network.schemas import (
    Charged,
    CreditAnswer,
    CreditSessionCreate,
    CreditSessionTerminate,
    CreditSessionUpdate,
    UsageRecordAnswer,
    UsageRecordBatch,
    UsageRecordResult,
)
from crossbay.settings import Settings
from crossbay.usage import credit
from crossbay.usage.errors import InvalidApiKey
from crossbay.usage.records import RecordIn, apply_with_retry, summarize

_key = HTTPBearer(auto_error=False, scheme_name="NetworkApiKey", description="The network partner's API key")


def network_partner(
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_key)], settings: SettingsDep
) -> None:
    expected = settings.network_api_key
    given = credentials.credentials if credentials is not None else ""
    if not expected or not hmac.compare_digest(given.encode(), expected.encode()):
        raise InvalidApiKey()


router = APIRouter(prefix="/network", tags=["network"], dependencies=[Depends(network_partner)])


def policy_of(settings: Settings) -> credit.CreditPolicy:
    return credit.CreditPolicy(
        slice_bytes=settings.credit_slice_bytes,
        slice_seconds=settings.credit_slice_seconds,
        validity_seconds=settings.credit_validity_seconds,
        timeout_seconds=settings.credit_session_timeout_seconds,
    )


@router.post("/usage-records", response_model=UsageRecordAnswer)
def post_usage_records(body: UsageRecordBatch, runtime: RuntimeDep) -> UsageRecordAnswer:
    """Apply a batch of usage records, each once by ``record_id``; every record gets a result."""
    records = [
        RecordIn(
            record_id=r.record_id,
            iccid=r.iccid,
            started_at=r.started_at,
            ended_at=r.ended_at,
            region=r.region,
            network=r.network,
            data_bytes=r.data_bytes,
            voice_seconds=r.voice_seconds,
        )
        for r in body.records
    ]
    results = apply_with_retry(runtime.sessions, records, clock=runtime.clock)
    return UsageRecordAnswer(
        results=[
            UsageRecordResult(
                record_id=r.record_id,
                result=r.result,
                charged=Charged(data_bytes=r.charged_data_bytes, voice_seconds=r.charged_voice_seconds),
            )
            for r in results
        ],
        summary=summarize(results),
    )


@router.post("/credit-sessions", response_model=CreditAnswer, status_code=201)
def open_credit_session(
    body: CreditSessionCreate, session: SessionDep, settings: SettingsDep, clock: ClockDep
) -> Any:
    """CCR-I: reserve a first slice of quota."""
    with transaction(session):
        return credit.open_session(
            session,
            session_id=body.session_id,
            iccid=body.iccid,
            service=body.service,
            region=body.region,
            requested=body.requested_units,
            policy=policy_of(settings),
            now=clock.now(),
        )


@router.post("/credit-sessions/{session_id}/update", response_model=CreditAnswer)
def update_credit_session(
    session_id: str, body: CreditSessionUpdate, session: SessionDep, settings: SettingsDep, clock: ClockDep
) -> Any:
    """CCR-U: commit the units used, release the rest of the grant, grant the next slice."""
    with transaction(session):
        return credit.update_session(
            session,
            session_id=session_id,
            request_number=body.request_number,
            used=body.used_units,
            requested=body.requested_units,
            policy=policy_of(settings),
            now=clock.now(),
        )


@router.post("/credit-sessions/{session_id}/terminate", response_model=CreditAnswer)
def terminate_credit_session(
    session_id: str, body: CreditSessionTerminate, session: SessionDep, clock: ClockDep
) -> Any:
    """CCR-T: commit the last units used and release the rest."""
    with transaction(session):
        return credit.terminate_session(
            session,
            session_id=session_id,
            request_number=body.request_number,
            used=body.used_units,
            now=clock.now(),
        )

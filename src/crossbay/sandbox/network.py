"""The carrier network, played locally: ``POST /sandbox/network/usage`` reports usage on a line.

It does what the real network does: it sends a usage record (with a fresh record id) to
``/network/usage-records`` over HTTP with the network API key, so the usage is rated by the
production path, gauges move and reminders fire. The answer is the network endpoint's answer.
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any

import httpx
from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from crossbay.api.deps import RuntimeDep
from crossbay.errors import NotFound
from crossbay.network.schemas import REGION_HELP


def _sandbox_only(runtime: RuntimeDep) -> None:
    if not runtime.settings.sandbox:
        raise NotFound()


router = APIRouter(tags=["sandbox"], dependencies=[Depends(_sandbox_only)])


class SandboxUsage(BaseModel):
    iccid: str = Field(min_length=1, max_length=22)
    data_bytes: int = Field(default=0, ge=0, le=10**13)
    voice_seconds: int = Field(default=0, ge=0, le=10**7)
    region: str = Field(default="hk", min_length=1, max_length=16, description=REGION_HELP)
    network: str = Field(default="CMHK", max_length=64)


@router.post("/sandbox/network/usage")
def report_usage(body: SandboxUsage, runtime: RuntimeDep) -> JSONResponse:
    """One usage record for the line, starting now, sent to the operator as the network would."""
    # Stamped now, not back-dated: usage from before a pack was bought is, rightly, no pack's.
    started = runtime.clock.now()
    ended = started + timedelta(seconds=body.voice_seconds)
    record: dict[str, Any] = {
        "record_id": "sbx-" + secrets.token_hex(12),
        "iccid": body.iccid,
        "started_at": started.isoformat(),
        "ended_at": ended.isoformat(),
        "region": body.region,
        "network": body.network,
        "data_bytes": body.data_bytes,
        "voice_seconds": body.voice_seconds,
    }
    settings = runtime.settings
    try:
        answer = runtime.http.post(
            f"{settings.base_url.rstrip('/')}/network/usage-records",
            json={"records": [record]},
            headers={"Authorization": f"Bearer {settings.secret('network_api_key')}"},
        )
    except httpx.HTTPError:
        return JSONResponse({"detail": "the operator could not be reached"}, status_code=502)
    payload = answer.json() if answer.headers.get("content-type", "").startswith("application/") else {}
    return JSONResponse(payload, status_code=answer.status_code)

"""Idempotency-Key for POSTs that create or move money (API.md, "Idempotency").

The key is claimed by inserting a row (unique per customer and key) before
the work starts, so concurrent duplicates cannot both run: the losers wait
for the winner's stored response and replay it.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from crossbay.api.models import IdempotencyRecord
from crossbay.db import new_id, transaction
from crossbay.errors import Conflict, CrossbayError
from crossbay.runtime import Runtime

TTL = timedelta(hours=24)
WAIT_FOR_FIRST_SECONDS = 15.0


class IdempotencyKeyRequired(CrossbayError):
    code = "idempotency_key_required"
    status = 400


class IdempotencyKeyReused(Conflict):
    code = "idempotency_key_reused"


class IdempotencyRequestInProgress(Conflict):
    code = "idempotency_request_in_progress"


class InvalidIdempotencyKey(CrossbayError):
    code = "validation_failed"
    status = 422


def request_fingerprint(path: str, body: Any) -> str:
    canonical = json.dumps({"path": path, "body": body}, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def check_key(key: str | None, *, required: bool) -> str | None:
    if key is None:
        if required:
            raise IdempotencyKeyRequired()
        return None
    if not 1 <= len(key) <= 255:
        raise InvalidIdempotencyKey("Idempotency-Key must be 1 to 255 characters")
    return key


def idempotent(
    runtime: Runtime,
    *,
    scope: str,
    key: str | None,
    fingerprint: str,
    work: Callable[[], tuple[int, dict[str, Any]]],
) -> JSONResponse:
    """Run ``work`` once per (scope, key); replay its response to repeats with the same request."""
    if key is None:
        status, body = work()
        return JSONResponse(body, status_code=status)
    replay = _claim(runtime, scope=scope, key=key, fingerprint=fingerprint)
    if replay is not None:
        return replay
    try:
        status, body = work()
    except BaseException:
        # Only completed work is replayed; a failed attempt frees the key for a retry.
        with runtime.sessions() as session, transaction(session):
            session.execute(
                delete(IdempotencyRecord).where(
                    IdempotencyRecord.scope == scope, IdempotencyRecord.key == key
                )
            )
        raise
    with runtime.sessions() as session, transaction(session):
        record = session.scalars(
            select(IdempotencyRecord).where(IdempotencyRecord.scope == scope, IdempotencyRecord.key == key)
        ).one()
        record.response_status = status
        record.response_body = json.dumps(body)
    return JSONResponse(body, status_code=status)


def idempotent_json_post(
    runtime: Runtime,
    request: Request,
    body: BaseModel,
    *,
    scope: str,
    key: str | None,
    work: Callable[[], tuple[int, dict[str, Any]]],
) -> JSONResponse:
    """``idempotent`` for a JSON POST: the request is its path and its parsed body."""
    fingerprint = request_fingerprint(request.url.path, body.model_dump(mode="json"))
    return idempotent(runtime, scope=scope, key=key, fingerprint=fingerprint, work=work)


def _claim(runtime: Runtime, *, scope: str, key: str, fingerprint: str) -> JSONResponse | None:
    deadline = time.monotonic() + WAIT_FOR_FIRST_SECONDS
    while True:
        now = runtime.clock.now()
        with runtime.sessions() as session, transaction(session):
            existing = session.scalar(
                select(IdempotencyRecord).where(
                    IdempotencyRecord.scope == scope, IdempotencyRecord.key == key
                )
            )
            if existing is not None and existing.expires_at <= now:
                session.delete(existing)
                session.flush()  # the expired key is free again within this transaction
                existing = None
            if existing is None and _insert(session, scope, key, fingerprint, now):
                return None
        if existing is not None:
            if existing.request_hash != fingerprint:
                raise IdempotencyKeyReused()
            if existing.response_status is not None and existing.response_body is not None:
                return JSONResponse(
                    json.loads(existing.response_body),
                    status_code=existing.response_status,
                    headers={"Idempotency-Replayed": "true"},
                )
        if time.monotonic() > deadline:
            raise IdempotencyRequestInProgress(retry_after=1)
        time.sleep(0.05)  # the first request is still running: look again shortly


def _insert(session: Any, scope: str, key: str, fingerprint: str, now: datetime) -> bool:
    try:
        with session.begin_nested():
            session.add(
                IdempotencyRecord(
                    id=new_id("idk"),
                    scope=scope,
                    key=key,
                    request_hash=fingerprint,
                    created_at=now,
                    expires_at=now + TTL,
                )
            )
        return True
    except IntegrityError:
        return False

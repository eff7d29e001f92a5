"""ES2+ SM-DP+ → operator: ``handleDownloadProgressInfo`` (SGP.22 §5.3.5).

The caller is recognised by the ``functionRequesterIdentifier`` the two
parties agreed on, as every ES2+ function does. That identifier is not a
secret: in production the endpoint must be reachable only over mutual TLS
with the SM-DP+'s client certificate (terminated at the load balancer or
ingress, which passes on only verified connections); see README "SM-DP+".
A refused call changes nothing and is answered in ES2+ terms.
"""

from __future__ import annotations

import json
import logging
import re
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Request, Response
from fastapi.responses import JSONResponse

from crossbay.api.deps import RuntimeDep, SessionDep
from crossbay.db import transaction
from crossbay.esim.lifecycle import POINT_STATUSES, ProgressNotice, apply_progress_notice

log = logging.getLogger("crossbay.esim")

router = APIRouter(tags=["partner endpoints"])
ADMIN_PROTOCOL = re.compile(r"gsma/rsp/v2\.\d+\.\d+")
ANSWER_PROTOCOL = "gsma/rsp/v2.5.0"
# Generic SGP.22 subject codes: 1.1 function requester, 1.5 protocol version; 8.2.1 the profile ICCID.
REQUESTER, PROTOCOL, ICCID = "1.1", "1.5", "8.2.1"


async def _raw_body(request: Request) -> bytes:
    return await request.body()


RawBody = Annotated[bytes, Depends(_raw_body)]
AdminProtocol = Annotated[str | None, Header(alias="X-Admin-Protocol")]


class _Refused(Exception):
    def __init__(self, http_status: int, subject: str, reason: str, message: str) -> None:
        super().__init__(message)
        self.http_status, self.subject, self.reason, self.message = http_status, subject, reason, message


@router.post(
    "/gsma/rsp2/es2plus/handleDownloadProgressInfo",
    status_code=204,
    response_class=Response,
    summary="ES2+ download progress notification from the SM-DP+",
    responses={400: {"description": "malformed"}, 401: {"description": "unknown function requester"}},
)
def handle_download_progress_info(
    raw: RawBody, session: SessionDep, runtime: RuntimeDep, protocol: AdminProtocol = None
) -> Response:
    # Plain def: FastAPI runs it in the thread pool, so the database work never blocks the event loop.
    try:
        notice = _read(protocol, raw, expected_requester=runtime.settings.smdp_callback_requester_id)
        with transaction(session):
            outcome = apply_progress_notice(session, notice, now=runtime.clock.now())
    except _Refused as refused:
        log.warning(
            "SM-DP+ progress notice refused",
            extra={"subject_code": refused.subject, "reason_code": refused.reason},
        )
        return _failed(refused.http_status, refused.subject, refused.reason, refused.message)
    if not outcome.known:
        # Acknowledging would make the SM-DP+ believe we track a profile we do not know.
        return _failed(200, ICCID, "3.9", "ICCID unknown")
    return Response(status_code=204, headers={"X-Admin-Protocol": ANSWER_PROTOCOL})


def _read(protocol: str | None, raw: bytes, *, expected_requester: str) -> ProgressNotice:
    """The notice in the request, checked for protocol, requester and shape, in that order."""
    if protocol is None or not ADMIN_PROTOCOL.fullmatch(protocol):
        raise _Refused(400, PROTOCOL, "2.2" if protocol is None else "2.1", "X-Admin-Protocol")
    try:
        body = json.loads(raw)
    except ValueError:
        raise _Refused(400, REQUESTER, "2.2", "body is not JSON") from None
    header = body.get("header") if isinstance(body, dict) else None
    requester = header.get("functionRequesterIdentifier") if isinstance(header, dict) else None
    call_id = header.get("functionCallIdentifier") if isinstance(header, dict) else None
    if not isinstance(requester, str) or not isinstance(call_id, str) or not call_id or len(call_id) > 128:
        raise _Refused(400, REQUESTER, "2.2", "request header missing or malformed")
    if requester != expected_requester:
        raise _Refused(401, REQUESTER, "1.2", "function requester not allowed")
    assert isinstance(body, dict)
    iccid = body.get("iccid")
    if not isinstance(iccid, str) or not iccid.isascii() or not 18 <= len(iccid) <= 20:
        raise _Refused(400, ICCID, "2.1" if iccid else "2.2", "iccid")
    if iccid[-1] in "Ff":  # a 19-digit ICCID may travel padded with F
        iccid = iccid[:-1]
    point_id = body.get("notificationPointId")
    if isinstance(point_id, str) and point_id.isdigit():
        point_id = int(point_id)  # some SM-DP+ send it as a string
    if not isinstance(point_id, int) or isinstance(point_id, bool) or not 0 < point_id < 1000:
        raise _Refused(400, "8.2", "2.1", "notificationPointId")
    status = body.get("notificationPointStatus")
    point_status = status.get("status") if isinstance(status, dict) else None
    if point_status not in POINT_STATUSES:
        raise _Refused(400, "8.2", "2.1", "notificationPointStatus")
    assert isinstance(status, dict) and isinstance(point_status, str)
    codes = status.get("statusCodeData")
    codes = codes if isinstance(codes, dict) else {}
    eid = body.get("eid")
    return ProgressNotice(
        requester_id=requester,
        call_id=call_id,
        iccid=iccid,
        point_id=point_id,
        point_status=point_status,
        eid=eid if isinstance(eid, str) and eid.isdigit() and len(eid) == 32 else None,
        subject_code=_code(codes.get("subjectCode")),
        reason_code=_code(codes.get("reasonCode")),
        occurred_at=_timestamp(body.get("timestamp")),
    )


def _code(value: Any) -> str | None:
    return None if value is None else str(value)[:16]


def _timestamp(value: Any) -> datetime | None:
    """SGP.22 timestamps are ISO 8601 UTC (``2024-01-31T09:30:47Z``); an unreadable one is ignored."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def _failed(http_status: int, subject: str, reason: str, message: str) -> JSONResponse:
    execution = {
        "status": "Failed",
        "statusCodeData": {"subjectCode": subject, "reasonCode": reason, "message": message},
    }
    return JSONResponse(
        {"header": {"functionExecutionStatus": execution}},
        status_code=http_status,
        headers={"X-Admin-Protocol": ANSWER_PROTOCOL},
    )

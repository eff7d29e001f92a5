"""Worker side of the eSIM lifecycle: tell the SM-DP+ that a terminated eSIM's profile is done with."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from crossbay.db import transaction
from crossbay.esim import service
from crossbay.esim.errors import IccidUnknown, InvalidTransition
from crossbay.runtime import Runtime

log = logging.getLogger("crossbay.esim")


def release_call_id(esim_id: str) -> str:
    """One ES2+ call id per termination, the same on every retry of the job."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"crossbay:terminate:cancelOrder:{esim_id}"))


def release_terminated_profile(runtime: Runtime, payload: dict[str, Any]) -> None:
    """cancelOrder(Unavailable): the order ends at the SM-DP+ and the profile is never handed out again.

    SGP.22 lets the operator cancel only a profile that has not been downloaded;
    once a phone holds it, only the phone can delete it (the SM-DP+ answers
    8.2.1/3.5) and the eSIM is closed on the network side alone.
    """
    esim_id = str(payload["esim_id"])
    with runtime.sessions() as session, transaction(session):
        esim = service.get_esim(session, esim_id)
    if esim is None or esim.iccid is None or esim.status != service.TERMINATED:
        return
    try:
        runtime.es2plus.cancel_order(
            call_id=release_call_id(esim.id),
            iccid=esim.iccid,
            final_profile_status="Unavailable",
            matching_id=esim.matching_id,
        )
    except (InvalidTransition, IccidUnknown) as refused:
        log.info(
            "terminated eSIM's profile is beyond the SM-DP+'s reach",
            extra={
                "esim_id": esim.id,
                "subject_code": refused.subject_code,
                "reason_code": refused.reason_code,
            },
        )
        return
    log.info("terminated eSIM's profile released at the SM-DP+", extra={"esim_id": esim.id})

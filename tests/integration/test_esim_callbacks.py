"""POST /gsma/rsp2/es2plus/handleDownloadProgressInfo: the SM-DP+'s progress notices move the eSIM,
once, forward only, and only when they come from the SM-DP+ we expect."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from crossbay.db import transaction
from crossbay.esim import service as esims
from crossbay.esim.models import SmdpProgressNotice
from tests.conftest import LiveServer
from tests.support.esims import (
    EID,
    OTHER_EID,
    esim_now,
    install_on_phone,
    matching_id,
    new_ready_esim,
    set_smdp_faults,
    timeline,
)
from tests.support.journey import Customer

PATH = "/gsma/rsp2/es2plus/handleDownloadProgressInfo"
PROTOCOL = {"X-Admin-Protocol": "gsma/rsp/v2.5.0"}
SMDP = "sandbox-smdp"  # the test settings' smdp_callback_requester_id


def notice(
    iccid: str,
    point: int,
    status: str = "Executed-Success",
    *,
    requester: str = SMDP,
    call_id: str | None = None,
) -> dict[str, Any]:
    return {
        "header": {
            "functionRequesterIdentifier": requester,
            "functionCallIdentifier": call_id or str(uuid.uuid4()),
        },
        "eid": EID,
        "iccid": iccid,
        "profileType": "crossbay-data",
        "timestamp": "2026-11-26T09:30:47Z",
        "notificationPointId": point,
        "notificationPointStatus": {"status": status},
    }


def send(http: httpx.Client, body: dict[str, Any], headers: dict[str, str] = PROTOCOL) -> httpx.Response:
    return http.post(PATH, json=body, headers=headers)


def notices_of(server: LiveServer, iccid: str) -> int:
    with server.runtime.sessions() as session, transaction(session):
        return int(session.scalar(select(func.count()).where(SmdpProgressNotice.iccid == iccid)) or 0)


class TestAuthentication:
    @pytest.mark.parametrize(
        ("requester", "headers", "status"),
        [
            ("someone-else", PROTOCOL, 401),
            ("", PROTOCOL, 401),
            (SMDP, {}, 400),
            (SMDP, {"X-Admin-Protocol": "v2"}, 400),
        ],
    )
    def test_refused_and_nothing_changes(
        self,
        customer: Customer,
        server: LiveServer,
        http: httpx.Client,
        requester: str,
        headers: dict[str, str],
        status: int,
    ) -> None:
        esim = new_ready_esim(customer)
        answer = send(http, notice(esim["iccid"], 4, requester=requester), headers)
        assert answer.status_code == status
        assert answer.json()["header"]["functionExecutionStatus"]["status"] == "Failed"
        assert esim_now(customer, esim["id"])["status"] == "ready"
        assert notices_of(server, esim["iccid"]) == 0

    @pytest.mark.parametrize(
        "body",
        [
            b"{not json",
            b"[]",
            b'{"header": {"functionRequesterIdentifier": "sandbox-smdp"}}',
        ],
    )
    def test_malformed_is_400(self, http: httpx.Client, body: bytes, server: LiveServer) -> None:
        answer = http.post(PATH, content=body, headers={**PROTOCOL, "Content-Type": "application/json"})
        assert answer.status_code == 400

    @pytest.mark.parametrize("field", ["iccid", "notificationPointId", "notificationPointStatus"])
    def test_a_bad_field_is_400(self, customer: Customer, http: httpx.Client, field: str) -> None:
        esim = new_ready_esim(customer)
        body = notice(esim["iccid"], 4) | {field: {"odd": True}}
        assert send(http, body).status_code == 400
        assert esim_now(customer, esim["id"])["status"] == "ready"

    def test_unknown_iccid_is_answered_iccid_unknown(self, http: httpx.Client, server: LiveServer) -> None:
        answer = send(http, notice("89852000000000009990", 4))
        assert answer.status_code == 200
        codes = answer.json()["header"]["functionExecutionStatus"]["statusCodeData"]
        assert (codes["subjectCode"], codes["reasonCode"]) == ("8.2.1", "3.9")


class TestFromThePhone:
    def test_install_moves_ready_to_installed_and_records_the_eid(
        self, customer: Customer, server: LiveServer
    ) -> None:
        esim = new_ready_esim(customer)
        result = install_on_phone(customer, esim)
        assert [c["notification_point_id"] for c in result["callbacks"]] == [1, 3, 4]
        after = esim_now(customer, esim["id"])
        assert after["status"] == "installed" and timeline(after) == ["preparing", "ready", "installed"]
        with server.runtime.sessions() as session, transaction(session):
            row = esims.get_esim(session, esim["id"])
            assert row is not None and row.eid == EID and row.installed_at is not None

    def test_callbacks_delivered_three_times_apply_once(self, customer: Customer, server: LiveServer) -> None:
        esim = new_ready_esim(customer)
        set_smdp_faults(customer, callback_repeats=2)
        result = install_on_phone(customer, esim)
        assert [c["http_status"] for c in result["callbacks"]] == [204] * 9
        assert timeline(esim_now(customer, esim["id"])) == ["preparing", "ready", "installed"]
        assert notices_of(server, esim["iccid"]) == 3

    def test_callbacks_in_reverse_order_still_end_installed(self, customer: Customer) -> None:
        esim = new_ready_esim(customer)
        set_smdp_faults(customer, callback_order="reversed", callback_repeats=1)
        result = install_on_phone(customer, esim)
        assert [c["notification_point_id"] for c in result["callbacks"]] == [4, 4, 3, 3, 1, 1]
        assert timeline(esim_now(customer, esim["id"])) == ["preparing", "ready", "installed"]

    @pytest.mark.parametrize("fail_at", ["download", "installation"])
    def test_a_failed_download_or_installation_leaves_it_installable(
        self, customer: Customer, server: LiveServer, fail_at: str
    ) -> None:
        esim = new_ready_esim(customer)
        failed = install_on_phone(customer, esim, fail_at=fail_at)
        assert failed["callbacks"][-1]["status"] == "Failed"
        assert esim_now(customer, esim["id"])["status"] == "ready"
        assert install_on_phone(customer, esim)["state"] == "installed"
        assert esim_now(customer, esim["id"])["status"] == "installed"

    def test_deleting_the_profile_on_the_phone_terminates_the_esim(self, customer: Customer) -> None:
        esim = new_ready_esim(customer)
        install_on_phone(customer, esim)
        deleted = customer.client().post(
            f"/sandbox/smdp/device/{matching_id(esim)}/delete", json={"eid": EID}
        )
        assert deleted.status_code == 200 and deleted.json()["callbacks"][0]["notification_point_id"] == 5
        after = esim_now(customer, esim["id"])
        assert after["status"] == "terminated" and timeline(after)[-1] == "terminated"

    def test_another_phone_cannot_delete_it(self, customer: Customer) -> None:
        esim = new_ready_esim(customer)
        install_on_phone(customer, esim)
        refused = customer.client().post(
            f"/sandbox/smdp/device/{matching_id(esim)}/delete", json={"eid": OTHER_EID}
        )
        assert refused.status_code == 409
        assert esim_now(customer, esim["id"])["status"] == "installed"

    def test_an_invalid_eid_is_refused_by_the_sandbox_phone(self, customer: Customer) -> None:
        esim = new_ready_esim(customer)
        bad = customer.client().post(
            f"/sandbox/smdp/device/{matching_id(esim)}/install", json={"eid": EID[:-1] + "4"}
        )
        assert bad.status_code == 422
        assert esim_now(customer, esim["id"])["status"] == "ready"

    def test_too_many_download_attempts_are_refused_at_the_eligibility_check(
        self, customer: Customer
    ) -> None:
        esim = new_ready_esim(customer)
        for _ in range(5):
            assert install_on_phone(customer, esim, fail_at="download")["callbacks"][-1]["status"] == "Failed"
        refused = install_on_phone(customer, esim)
        assert refused["refused"] == "too many download attempts"
        assert [c["notification_point_id"] for c in refused["callbacks"]] == [1]
        assert esim_now(customer, esim["id"])["status"] == "ready"


class TestOutOfOrder:
    """Each notice sent by hand, in an order a real SM-DP+ and network might produce."""

    def test_a_late_installation_notice_never_moves_an_active_esim_back(
        self, customer: Customer, server: LiveServer, http: httpx.Client
    ) -> None:
        esim = new_ready_esim(customer)
        with server.runtime.sessions() as session, transaction(session):
            esims.mark_first_use(session, iccid=esim["iccid"], now=server.runtime.clock.now())
        assert send(http, notice(esim["iccid"], 4)).status_code == 204
        after = esim_now(customer, esim["id"])
        assert after["status"] == "active" and timeline(after) == ["preparing", "ready", "active"]

    def test_deletion_before_installation_stays_terminated(
        self, customer: Customer, http: httpx.Client
    ) -> None:
        esim = new_ready_esim(customer)
        assert send(http, notice(esim["iccid"], 5)).status_code == 204
        assert send(http, notice(esim["iccid"], 4)).status_code == 204
        assert send(http, notice(esim["iccid"], 3)).status_code == 204
        assert timeline(esim_now(customer, esim["id"])) == ["preparing", "ready", "terminated"]

    def test_the_same_call_id_twice_is_applied_once_even_if_the_body_differs(
        self, customer: Customer, server: LiveServer, http: httpx.Client
    ) -> None:
        esim = new_ready_esim(customer)
        call_id = str(uuid.uuid4())
        assert send(http, notice(esim["iccid"], 4, "Failed", call_id=call_id)).status_code == 204
        assert send(http, notice(esim["iccid"], 4, call_id=call_id)).status_code == 204
        assert esim_now(customer, esim["id"])["status"] == "ready"
        assert notices_of(server, esim["iccid"]) == 1

    def test_installation_while_suspended_is_remembered_for_the_resume(
        self, customer: Customer, server: LiveServer, http: httpx.Client
    ) -> None:
        from crossbay.esim import lifecycle

        esim = new_ready_esim(customer)
        with server.runtime.sessions() as session, transaction(session):
            lifecycle.suspend_esim(
                session, esim_id=esim["id"], reason="check", now=server.runtime.clock.now()
            )
        assert send(http, notice(esim["iccid"], 4)).status_code == 204
        assert esim_now(customer, esim["id"])["status"] == "suspended"
        with server.runtime.sessions() as session, transaction(session):
            lifecycle.resume_esim(session, esim_id=esim["id"], reason="ok", now=server.runtime.clock.now())
        assert timeline(esim_now(customer, esim["id"])) == ["preparing", "ready", "suspended", "installed"]

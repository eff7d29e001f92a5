"""The real ES2+ client against the sandbox SM-DP+, over HTTP (ASGI), on a real SQLite file."""

from __future__ import annotations

import base64
import json
import logging
import secrets
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from crossbay.api.problems import install_problem_handlers
from crossbay.db import Base, make_engine
from crossbay.esim.activation import activation_code, iccid_is_valid, parse_activation_code
from crossbay.esim.errors import (
    EidUnknown,
    Es2PlusError,
    FunctionExpired,
    IccidBelongsToOtherEid,
    IccidUnknown,
    InvalidTransition,
    MatchingIdInUse,
    ProfileNotAvailable,
    SmdpUnavailable,
    TooManyConfirmationAttempts,
    TooManyDownloadAttempts,
)
from crossbay.esim.es2plus import Es2PlusClient
from crossbay.runtime import Runtime
from crossbay.sandbox.smdp import router
from crossbay.sandbox.smdp_models import SandboxSmdpCall, SandboxSmdpProfile, SandboxSmdpSettings
from crossbay.settings import Settings

BASE = "http://testserver/sandbox/smdp"
PROTOCOL = "gsma/rsp/v2.5.0"
EID_A = "89049032123451234512345678901235"
EID_B = "89049032000000000000000000000163"  # 30 digits + ISO 7064 check digits


def _key(size: int = 32) -> str:
    return base64.b64encode(secrets.token_bytes(size)).decode()


@pytest.fixture
def app(tmp_path: Path) -> Iterator[FastAPI]:
    engine = make_engine(f"sqlite:///{tmp_path / 'smdp.db'}")
    # Only the sandbox SM-DP+ tables: other contexts' models need not be imported here.
    tables = [
        Base.metadata.tables[m.__tablename__]
        for m in (SandboxSmdpProfile, SandboxSmdpCall, SandboxSmdpSettings)
    ]
    Base.metadata.create_all(engine, tables=tables)
    settings = Settings(
        sandbox=True,
        database_url=str(engine.url),
        var_dir=tmp_path,
        session_key=_key(),
        pii_key=_key(),
        pii_lookup_key=_key(),
        card_secret_key=_key(24),
        card_webhook_secret=_key(24),
        sms_auth_token=_key(24),
        smdp_requester_id="crossbay",
    )
    app = FastAPI()
    app.state.runtime = Runtime(settings=settings, engine=engine)
    install_problem_handlers(app)
    app.include_router(router)
    yield app
    engine.dispose()


@pytest.fixture
def http(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as client:
        yield client


@pytest.fixture
def smdp(http: TestClient) -> Es2PlusClient:
    return Es2PlusClient(BASE, requester_id="crossbay", admin_protocol=PROTOCOL, http=http, backoff=0.0)


def call_id() -> str:
    return "fci-" + secrets.token_hex(8)


def stats(http: TestClient) -> dict[str, int]:
    answer: dict[str, int] = http.get("/sandbox/smdp/stats").json()
    return answer


def profile(http: TestClient, iccid: str) -> dict[str, Any]:
    answer: dict[str, Any] = http.get(f"/sandbox/smdp/profiles/{iccid}").json()
    return answer


def set_faults(http: TestClient, **faults: Any) -> None:
    assert http.put("/sandbox/smdp/faults", json=faults).status_code == 200


class TestHappyPath:
    def test_download_then_confirm_gives_a_valid_iccid_and_activation_code(
        self, smdp: Es2PlusClient, http: TestClient
    ) -> None:
        iccid = smdp.download_order(call_id=call_id())
        assert iccid_is_valid(iccid) and len(iccid) == 20 and iccid.startswith("8985200")
        assert profile(http, iccid)["state"] == "allocated"

        confirmed = smdp.confirm_order(call_id=call_id(), iccid=iccid)
        assert confirmed.smdp_address == "127.0.0.1:8000"
        assert "$" not in confirmed.matching_id and confirmed.matching_id.isupper()
        code = activation_code(confirmed.smdp_address, confirmed.matching_id)
        assert code == f"LPA:1$127.0.0.1:8000${confirmed.matching_id}"
        assert parse_activation_code(code) == (confirmed.smdp_address, confirmed.matching_id)
        assert profile(http, iccid)["state"] == "released"
        assert confirmed.matching_id not in repr(confirmed)

    def test_each_order_gets_its_own_iccid(self, smdp: Es2PlusClient) -> None:
        iccids = {smdp.download_order(call_id=call_id()) for _ in range(3)}
        assert len(iccids) == 3 and all(iccid_is_valid(i) for i in iccids)

    def test_download_with_eid_links_and_confirm_answers_it(
        self, smdp: Es2PlusClient, http: TestClient
    ) -> None:
        iccid = smdp.download_order(call_id=call_id(), eid=EID_A, profile_type="hk-data")
        assert profile(http, iccid)["state"] == "linked"
        smdp.confirm_order(call_id=call_id(), iccid=iccid, eid=EID_A, matching_id="MY-OWN-ID-1")
        assert profile(http, iccid)["matching_id"] == "MY-OWN-ID-1"

    def test_confirm_without_release_then_release(self, smdp: Es2PlusClient, http: TestClient) -> None:
        iccid = smdp.download_order(call_id=call_id())
        smdp.confirm_order(call_id=call_id(), iccid=iccid, release_flag=False)
        assert profile(http, iccid)["state"] == "confirmed"
        smdp.release_profile(call_id=call_id(), iccid=iccid)
        assert profile(http, iccid)["state"] == "released"

    @pytest.mark.parametrize(("final", "state"), [("Available", "available"), ("Unavailable", "unavailable")])
    def test_cancel_returns_the_profile(
        self, smdp: Es2PlusClient, http: TestClient, final: str, state: str
    ) -> None:
        iccid = smdp.download_order(call_id=call_id(), eid=EID_A)
        smdp.confirm_order(call_id=call_id(), iccid=iccid)
        smdp.cancel_order(call_id=call_id(), iccid=iccid, final_profile_status=final, eid=EID_A)
        after = profile(http, iccid)
        assert after["state"] == state and after["eid"] is None and after["matching_id"] is None

    def test_a_cancelled_available_profile_can_be_ordered_by_iccid(self, smdp: Es2PlusClient) -> None:
        iccid = smdp.download_order(call_id=call_id())
        smdp.cancel_order(call_id=call_id(), iccid=iccid)
        assert smdp.download_order(call_id=call_id(), iccid=iccid) == iccid

    def test_nothing_identifying_is_logged(
        self, smdp: Es2PlusClient, caplog: pytest.LogCaptureFixture
    ) -> None:
        caplog.set_level(logging.DEBUG)
        iccid = smdp.download_order(call_id=call_id(), eid=EID_A)
        confirmed = smdp.confirm_order(call_id=call_id(), iccid=iccid)
        assert EID_A not in caplog.text and confirmed.matching_id not in caplog.text


class TestIdempotency:
    def test_repeated_call_id_returns_the_same_iccid_and_allocates_nothing(
        self, smdp: Es2PlusClient, http: TestClient
    ) -> None:
        fci = call_id()
        first = smdp.download_order(call_id=fci)
        assert smdp.download_order(call_id=fci) == first
        assert stats(http) == {"allocated": 1, "calls": 1}

    def test_repeated_confirm_returns_the_same_matching_id(self, smdp: Es2PlusClient) -> None:
        iccid = smdp.download_order(call_id=call_id())
        fci = call_id()
        assert smdp.confirm_order(call_id=fci, iccid=iccid) == smdp.confirm_order(call_id=fci, iccid=iccid)

    def test_a_refusal_is_replayed_too(self, smdp: Es2PlusClient, http: TestClient) -> None:
        fci = call_id()
        with pytest.raises(IccidUnknown):
            smdp.release_profile(call_id=fci, iccid="89852000000000009990")
        with pytest.raises(IccidUnknown):
            smdp.release_profile(call_id=fci, iccid="89852000000000009990")
        assert stats(http)["calls"] == 1

    def test_same_call_id_for_another_function_is_another_call(self, smdp: Es2PlusClient) -> None:
        fci = call_id()
        iccid = smdp.download_order(call_id=fci)
        assert smdp.confirm_order(call_id=fci, iccid=iccid).matching_id


class TestRequestChecks:
    def test_missing_admin_protocol_is_refused(self, http: TestClient) -> None:
        body = {"header": {"functionRequesterIdentifier": "crossbay", "functionCallIdentifier": call_id()}}
        answer = http.post("/sandbox/smdp/gsma/rsp2/es2plus/downloadOrder", json=body)
        assert answer.status_code == 400
        assert answer.json()["header"]["functionExecutionStatus"]["status"] == "Failed"
        assert stats(http) == {"allocated": 0, "calls": 0}

    def test_garbled_admin_protocol_is_refused(self, http: TestClient) -> None:
        client = Es2PlusClient(BASE, requester_id="crossbay", admin_protocol="rsp/2", http=http, backoff=0.0)
        with pytest.raises(Es2PlusError) as caught:
            client.download_order(call_id=call_id())
        assert type(caught.value) is Es2PlusError and not caught.value.retryable
        assert caught.value.subject_code == "1.5"
        assert stats(http)["allocated"] == 0

    def test_malformed_body_is_refused(self, http: TestClient) -> None:
        answer = http.post(
            "/sandbox/smdp/gsma/rsp2/es2plus/downloadOrder",
            content=b"{not json",
            headers={"X-Admin-Protocol": PROTOCOL, "Content-Type": "application/json"},
        )
        assert answer.status_code == 400
        assert answer.json()["header"]["functionExecutionStatus"]["status"] == "Failed"

    def test_unknown_requester_is_refused(self, http: TestClient) -> None:
        client = Es2PlusClient(BASE, requester_id="someone-else", admin_protocol=PROTOCOL, http=http)
        with pytest.raises(Es2PlusError) as caught:
            client.download_order(call_id=call_id())
        assert (caught.value.subject_code, caught.value.reason_code) == ("1.1", "1.2")
        assert stats(http) == {"allocated": 0, "calls": 0}


MAPPED = [
    ("8.2.1", "3.9", IccidUnknown),
    ("8.2.1", "3.10", IccidBelongsToOtherEid),
    ("8.2.6", "3.3", MatchingIdInUse),
    ("8.8.5", "6.4", TooManyDownloadAttempts),
    ("8.2.7", "6.4", TooManyConfirmationAttempts),
    ("8.1.1", "3.8", EidUnknown),
    ("8.2.5", "3.7", ProfileNotAvailable),
    ("8.2.1", "3.3", ProfileNotAvailable),
    ("8.2.1", "3.5", InvalidTransition),
    ("8.9", "9.9", Es2PlusError),
]


class TestErrorMapping:
    @pytest.mark.parametrize(("subject", "reason", "error"), MAPPED)
    def test_injected_status_codes_map_to_classes(
        self, smdp: Es2PlusClient, http: TestClient, subject: str, reason: str, error: type[Es2PlusError]
    ) -> None:
        set_faults(http, fail_function="downloadOrder", fail_subject_code=subject, fail_reason_code=reason)
        with pytest.raises(Es2PlusError) as caught:
            smdp.download_order(call_id=call_id())
        assert type(caught.value) is error
        assert (caught.value.subject_code, caught.value.reason_code) == (subject, reason)
        assert not caught.value.retryable
        assert caught.value.code == "smdp_error" and caught.value.status == 502
        # One failure was injected: the next call goes through.
        assert iccid_is_valid(smdp.download_order(call_id=call_id()))

    @pytest.mark.parametrize("function", ["downloadOrder", "confirmOrder", "cancelOrder", "releaseProfile"])
    @pytest.mark.parametrize(("subject", "reason", "error"), MAPPED)
    def test_every_function_maps_every_status_code(
        self,
        smdp: Es2PlusClient,
        http: TestClient,
        function: str,
        subject: str,
        reason: str,
        error: type[Es2PlusError],
    ) -> None:
        iccid = smdp.download_order(call_id=call_id())
        smdp.confirm_order(call_id=call_id(), iccid=iccid, release_flag=False)
        calls: dict[str, Callable[[], object]] = {
            "downloadOrder": lambda: smdp.download_order(call_id=call_id()),
            "confirmOrder": lambda: smdp.confirm_order(call_id=call_id(), iccid=iccid),
            "cancelOrder": lambda: smdp.cancel_order(call_id=call_id(), iccid=iccid),
            "releaseProfile": lambda: smdp.release_profile(call_id=call_id(), iccid=iccid),
        }
        set_faults(http, fail_function=function, fail_subject_code=subject, fail_reason_code=reason)
        with pytest.raises(error) as caught:
            calls[function]()
        assert type(caught.value) is error and caught.value.function == function
        assert profile(http, iccid)["state"] == "confirmed"  # a refusal changes nothing

    def test_expired_is_retryable_with_the_same_call_id(self, smdp: Es2PlusClient, http: TestClient) -> None:
        set_faults(http, fail_status="Expired")
        fci = call_id()
        with pytest.raises(FunctionExpired) as caught:
            smdp.download_order(call_id=fci)
        assert caught.value.retryable
        iccid = smdp.download_order(call_id=fci)
        assert stats(http)["allocated"] == 1 and smdp.download_order(call_id=fci) == iccid

    def test_fault_for_another_function_leaves_this_one_alone(
        self, smdp: Es2PlusClient, http: TestClient
    ) -> None:
        set_faults(http, fail_function="confirmOrder", fail_subject_code="8.2.1", fail_reason_code="3.9")
        iccid = smdp.download_order(call_id=call_id())
        with pytest.raises(IccidUnknown):
            smdp.confirm_order(call_id=call_id(), iccid=iccid)

    def test_empty_faults_clear_them(self, smdp: Es2PlusClient, http: TestClient) -> None:
        set_faults(http, fail_http_status=503, fail_remaining=10)
        set_faults(http)
        assert smdp.download_order(call_id=call_id())

    def test_delay_fault_slows_the_answer(self, smdp: Es2PlusClient, http: TestClient) -> None:
        set_faults(http, delay_seconds=0.2)
        started = time.monotonic()
        smdp.download_order(call_id=call_id())
        assert time.monotonic() - started >= 0.2


class TestStateRules:
    def test_confirm_of_unknown_iccid(self, smdp: Es2PlusClient) -> None:
        with pytest.raises(IccidUnknown):
            smdp.confirm_order(call_id=call_id(), iccid="89852000000000009990")

    def test_confirm_with_another_eid(self, smdp: Es2PlusClient, http: TestClient) -> None:
        iccid = smdp.download_order(call_id=call_id(), eid=EID_A)
        with pytest.raises(IccidBelongsToOtherEid):
            smdp.confirm_order(call_id=call_id(), iccid=iccid, eid=EID_B)
        assert profile(http, iccid)["state"] == "linked"

    def test_matching_id_in_use(self, smdp: Es2PlusClient, http: TestClient) -> None:
        first = smdp.download_order(call_id=call_id())
        smdp.confirm_order(call_id=call_id(), iccid=first, matching_id="TAKEN-1")
        second = smdp.download_order(call_id=call_id())
        with pytest.raises(MatchingIdInUse):
            smdp.confirm_order(call_id=call_id(), iccid=second, matching_id="TAKEN-1")
        assert profile(http, second)["state"] == "allocated"

    def test_invalid_eid_is_refused(self, smdp: Es2PlusClient, http: TestClient) -> None:
        with pytest.raises(EidUnknown):
            smdp.download_order(call_id=call_id(), eid="89049032123451234512345678901234")
        assert stats(http)["allocated"] == 0

    def test_an_allocated_iccid_cannot_be_ordered_again(self, smdp: Es2PlusClient) -> None:
        iccid = smdp.download_order(call_id=call_id())
        with pytest.raises(ProfileNotAvailable):
            smdp.download_order(call_id=call_id(), iccid=iccid)

    def test_release_needs_a_confirmed_profile(self, smdp: Es2PlusClient) -> None:
        iccid = smdp.download_order(call_id=call_id())
        with pytest.raises(InvalidTransition):
            smdp.release_profile(call_id=call_id(), iccid=iccid)
        smdp.confirm_order(call_id=call_id(), iccid=iccid)
        with pytest.raises(InvalidTransition):
            smdp.release_profile(call_id=call_id(), iccid=iccid)

    def test_confirm_twice_is_an_invalid_transition(self, smdp: Es2PlusClient) -> None:
        iccid = smdp.download_order(call_id=call_id())
        smdp.confirm_order(call_id=call_id(), iccid=iccid)
        with pytest.raises(InvalidTransition):
            smdp.confirm_order(call_id=call_id(), iccid=iccid)

    def test_cancel_of_an_available_profile_is_refused(self, smdp: Es2PlusClient) -> None:
        iccid = smdp.download_order(call_id=call_id())
        smdp.cancel_order(call_id=call_id(), iccid=iccid)
        with pytest.raises(InvalidTransition):
            smdp.cancel_order(call_id=call_id(), iccid=iccid)

    def test_unknown_profile_is_404(self, http: TestClient) -> None:
        assert http.get("/sandbox/smdp/profiles/89852000000000009990").status_code == 404


class TestUnavailable:
    def test_500s_are_retried_with_the_same_call_id_then_give_up(
        self, smdp: Es2PlusClient, http: TestClient
    ) -> None:
        set_faults(http, fail_http_status=500, fail_remaining=3)
        with pytest.raises(SmdpUnavailable) as caught:
            smdp.download_order(call_id=call_id())
        assert caught.value.retryable and caught.value.status == 502
        # retries=2: three attempts used up the three injected failures.
        assert stats(http)["allocated"] == 0
        assert smdp.download_order(call_id=call_id())

    def test_a_500_then_success_allocates_once(self, smdp: Es2PlusClient, http: TestClient) -> None:
        set_faults(http, fail_http_status=500, fail_remaining=2)
        iccid = smdp.download_order(call_id=call_id())
        assert iccid_is_valid(iccid) and stats(http) == {"allocated": 1, "calls": 1}

    @pytest.mark.parametrize("failure", [httpx.ConnectError, httpx.ReadTimeout])
    def test_transport_failures_are_retried_then_unavailable(
        self, failure: type[httpx.TransportError]
    ) -> None:
        seen: list[dict[str, Any]] = []

        def handler(request: httpx.Request) -> httpx.Response:
            seen.append(
                {"body": json.loads(request.content), "protocol": request.headers["X-Admin-Protocol"]}
            )
            raise failure("boom", request=request)

        with httpx.Client(transport=httpx.MockTransport(handler)) as http:
            client = Es2PlusClient(
                BASE, requester_id="crossbay", admin_protocol=PROTOCOL, http=http, retries=3, backoff=0.0
            )
            with pytest.raises(SmdpUnavailable) as caught:
                client.download_order(call_id="fci-1", eid=EID_A)
        assert caught.value.retryable and len(seen) == 4
        assert {s["body"]["header"]["functionCallIdentifier"] for s in seen} == {"fci-1"}
        assert seen[0]["body"] == {
            "header": {"functionRequesterIdentifier": "crossbay", "functionCallIdentifier": "fci-1"},
            "eid": EID_A,
        }
        assert seen[0]["protocol"] == PROTOCOL


def _canned(answer: dict[str, Any], status: int = 200) -> httpx.Client:
    return httpx.Client(transport=httpx.MockTransport(lambda request: httpx.Response(status, json=answer)))


class TestAnswerParsing:
    def test_warning_is_success(self, caplog: pytest.LogCaptureFixture) -> None:
        caplog.set_level(logging.WARNING)
        warning = {
            "functionExecutionStatus": {
                "status": "Executed-WithWarning",
                "statusCodeData": {"subjectCode": "8.2", "reasonCode": "4.4", "message": f"eid {EID_A}"},
            }
        }
        http = _canned({"header": warning, "iccid": "8985200000000000001F"})
        client = Es2PlusClient(BASE, requester_id="crossbay", admin_protocol=PROTOCOL, http=http)
        # A 19-digit ICCID padded with F comes back without the padding.
        assert client.download_order(call_id="fci-2") == "8985200000000000001"
        assert "warning" in caplog.text and EID_A not in caplog.text

    def test_missing_smdp_address_falls_back_to_the_server_host(self) -> None:
        answer = {"header": {"functionExecutionStatus": {"status": "Executed-Success"}}, "matchingId": "AB-1"}
        client = Es2PlusClient(
            "https://smdp.example.com:8443/", requester_id="x", admin_protocol=PROTOCOL, http=_canned(answer)
        )
        confirmed = client.confirm_order(call_id="fci-3", iccid="8985200000000000001")
        assert confirmed.smdp_address == "smdp.example.com:8443"

    @pytest.mark.parametrize(
        ("answer", "status"),
        [
            ({"unexpected": True}, 200),
            ({"header": {"functionExecutionStatus": {"status": "Odd"}}}, 200),
            ({}, 404),
        ],
    )
    def test_unreadable_answers_are_not_retryable(self, answer: dict[str, Any], status: int) -> None:
        client = Es2PlusClient(BASE, requester_id="x", admin_protocol=PROTOCOL, http=_canned(answer, status))
        with pytest.raises(Es2PlusError) as caught:
            client.download_order(call_id="fci-4")
        assert type(caught.value) is Es2PlusError and not caught.value.retryable

    def test_success_without_iccid_is_an_error(self) -> None:
        answer = {"header": {"functionExecutionStatus": {"status": "Executed-Success"}}}
        client = Es2PlusClient(BASE, requester_id="x", admin_protocol=PROTOCOL, http=_canned(answer))
        with pytest.raises(Es2PlusError):
            client.download_order(call_id="fci-5")


class TestConcurrency:
    def test_parallel_repeats_of_one_call_id_allocate_once(
        self, smdp: Es2PlusClient, http: TestClient
    ) -> None:
        fci = call_id()
        with ThreadPoolExecutor(max_workers=8) as pool:
            iccids = set(pool.map(lambda _: smdp.download_order(call_id=fci), range(8)))
        assert len(iccids) == 1 and stats(http) == {"allocated": 1, "calls": 1}

    def test_parallel_orders_get_distinct_iccids(self, smdp: Es2PlusClient, http: TestClient) -> None:
        with ThreadPoolExecutor(max_workers=8) as pool:
            iccids = set(pool.map(lambda _: smdp.download_order(call_id=call_id()), range(16)))
        assert len(iccids) == 16 and stats(http)["allocated"] == 16

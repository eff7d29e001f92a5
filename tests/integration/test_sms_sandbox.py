"""The real SmsGateway against the sandbox gateway (Twilio's Messages API), over HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from crossbay.api.problems import install_problem_handlers
from crossbay.clock import FrozenClock
from crossbay.db import Base, make_engine
from crossbay.notify.errors import SmsGatewayError
from crossbay.notify.sms import SmsGateway
from crossbay.runtime import Runtime
from crossbay.sandbox.sms import SandboxSmsMessage
from crossbay.sandbox.sms import router as sms_router
from crossbay.settings import Settings
from tests.support.threaded_server import serve_in_thread

ACCOUNT_SID = "AC_crossbay_test"
AUTH_TOKEN = "sms-auth-token-for-tests"
START = datetime(2026, 11, 26, 4, 0, tzinfo=UTC)


@dataclass
class Harness:
    base_url: str
    gateway: SmsGateway
    http: httpx.Client
    clock: FrozenClock


@pytest.fixture(scope="module")
def harness(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    db_path: Path = tmp_path_factory.mktemp("sms") / "sandbox.db"
    engine = make_engine(f"sqlite:///{db_path}")
    Base.metadata.create_all(engine, tables=[SandboxSmsMessage.__table__])
    app = FastAPI()
    app.include_router(sms_router)
    clock = FrozenClock(START)
    settings = Settings(
        sandbox=True,
        session_key="c2Vzc2lvbi1rZXktZm9yLXRlc3RzLW9ubHktMzJieXQ=",
        pii_key="MDEyMzQ1Njc4OTAxMjM0NTY3ODkwMTIzNDU2Nzg5MDE=",
        pii_lookup_key="YWJjZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXoxMjM0NTY=",
        card_secret_key="sk_test_unused",
        card_webhook_secret="whsec_unused",
        sms_account_sid=ACCOUNT_SID,
        sms_auth_token=AUTH_TOKEN,
    )
    runtime = Runtime(settings=settings, engine=engine, clock=clock)
    app.state.runtime = runtime
    with serve_in_thread(app) as base_url, httpx.Client(timeout=10.0) as http:
        runtime.settings = settings.model_copy(update={"base_url": base_url})
        gateway = SmsGateway(f"{base_url}/sandbox/sms", ACCOUNT_SID, AUTH_TOKEN, "crossbay", http=http)
        yield Harness(base_url, gateway, http, clock)
    runtime.close()


def _listed(harness: Harness, phone: str) -> list[dict[str, str]]:
    response = harness.http.get(f"{harness.base_url}/sandbox/sms/messages", params={"phone": phone})
    assert response.status_code == 200
    items: list[dict[str, str]] = response.json()["items"]
    return items


class TestSend:
    def test_sent_messages_are_listed_newest_first(self, harness: Harness) -> None:
        first = harness.gateway.send(to="+85291230001", body="Your code is 111111")
        harness.clock.advance(timedelta(seconds=30))
        second = harness.gateway.send(to="+85291230001", body="Your code is 222222")
        harness.gateway.send(to="+85291239999", body="someone else")

        items = _listed(harness, "+85291230001")

        assert first.startswith("SM") and len(first) == 34 and first != second
        assert [item["body"] for item in items] == ["Your code is 222222", "Your code is 111111"]
        assert {item["to"] for item in items} == {"+85291230001"}
        sent_at = datetime.fromisoformat(items[0]["sent_at"])
        assert sent_at.utcoffset() == timedelta(0)
        assert sent_at == START + timedelta(seconds=30)

    def test_an_unescaped_plus_in_the_query_still_finds_the_number(self, harness: Harness) -> None:
        harness.gateway.send(to="+8613800138000", body="hello")

        raw = harness.http.get(f"{harness.base_url}/sandbox/sms/messages?phone=+8613800138000")

        assert [item["body"] for item in raw.json()["items"]] == ["hello"]

    def test_wire_shape_is_twilios(self, harness: Harness) -> None:
        response = harness.http.post(
            f"{harness.base_url}/sandbox/sms/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json",
            data={"To": "+85291230002", "From": "crossbay", "Body": "hi"},
            auth=(ACCOUNT_SID, AUTH_TOKEN),
        )

        assert response.status_code == 201
        body = response.json()
        assert body["status"] == "queued"
        assert (body["to"], body["from"], body["body"], body["account_sid"]) == (
            "+85291230002",
            "crossbay",
            "hi",
            ACCOUNT_SID,
        )
        assert body["uri"] == f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/{body['sid']}.json"


class TestRefusals:
    def test_wrong_token_is_refused_and_not_retryable(self, harness: Harness) -> None:
        gateway = SmsGateway(
            f"{harness.base_url}/sandbox/sms", ACCOUNT_SID, "wrong", "crossbay", http=harness.http
        )

        with pytest.raises(SmsGatewayError) as caught:
            gateway.send(to="+85291230003", body="never stored")

        assert caught.value.retryable is False
        assert caught.value.status == 502 and caught.value.code == "sms_gateway_error"
        assert _listed(harness, "+85291230003") == []

    def test_wrong_account_is_refused(self, harness: Harness) -> None:
        gateway = SmsGateway(
            f"{harness.base_url}/sandbox/sms", "AC_other", AUTH_TOKEN, "crossbay", http=harness.http
        )

        with pytest.raises(SmsGatewayError):
            gateway.send(to="+85291230004", body="never stored")

    def test_url_account_must_match_the_credentials(self, harness: Harness) -> None:
        response = harness.http.post(
            f"{harness.base_url}/sandbox/sms/2010-04-01/Accounts/AC_other/Messages.json",
            data={"To": "+85291230005", "From": "crossbay", "Body": "x"},
            auth=(ACCOUNT_SID, AUTH_TOKEN),
        )

        assert response.status_code == 401
        assert response.json()["code"] == 20003

    def test_missing_recipient(self, harness: Harness) -> None:
        with pytest.raises(SmsGatewayError) as caught:
            harness.gateway.send(to="", body="x")

        assert "21604" in str(caught.value.detail)

    def test_unreachable_gateway_is_retryable(self, harness: Harness) -> None:
        gateway = SmsGateway("http://127.0.0.1:9", ACCOUNT_SID, AUTH_TOKEN, "crossbay", http=harness.http)

        with pytest.raises(SmsGatewayError) as caught:
            gateway.send(to="+85291230006", body="x")

        assert caught.value.retryable is True


def test_sandbox_paths_are_not_found_when_sandbox_mode_is_off(tmp_path: Path) -> None:
    app = FastAPI()
    install_problem_handlers(app)
    app.include_router(sms_router)
    app.state.runtime = Runtime(
        settings=Settings(sandbox=False), engine=make_engine(f"sqlite:///{tmp_path}/x.db")
    )

    with serve_in_thread(app) as base_url, httpx.Client(base_url=base_url) as client:
        assert client.get("/sandbox/sms/messages").status_code == 404
    app.state.runtime.close()

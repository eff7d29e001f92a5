"""The whole life of an eSIM over HTTP: buy → ready → installed (phone) → active (network) → staff
suspend → resume → terminate (the `crossbay esims` commands), visible in GET /api/v1/esims/{id}."""

from __future__ import annotations

import os
import subprocess
from typing import Any

import pytest

from crossbay.db import transaction
from crossbay.esim import service as esims
from tests.conftest import LiveServer
from tests.support.esims import (
    EID,
    esim_now,
    install_on_phone,
    matching_id,
    new_ready_esim,
    set_smdp_faults,
    timeline,
)
from tests.support.journey import Customer, poll
from tests.support.keys import secret_values
from tests.support.servers import CROSSBAY


def staff(server: LiveServer, action: str, esim_id: str, reason: str) -> subprocess.CompletedProcess[str]:
    """`crossbay esims ACTION ID --reason …` against the live server's database, as staff would run it."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CROSSBAY_")}
    env = {f"CROSSBAY_{name.upper()}": value for name, value in secret_values().items()}
    env["CROSSBAY_DATABASE_URL"] = server.runtime.settings.database_url
    return subprocess.run(
        [CROSSBAY, "esims", action, esim_id, "--reason", reason],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def report_usage(customer: Customer, server: LiveServer, iccid: str) -> None:
    """The network reports traffic on the eSIM."""
    response = customer.client().post(
        "/sandbox/network/usage", json={"iccid": iccid, "data_bytes": 1_000_000, "voice_seconds": 0}
    )
    if response.status_code == 404:
        # The network sandbox (usage context) is built alongside; until it is mounted,
        # call the hook it calls on a first record.
        with server.runtime.sessions() as session, transaction(session):
            esims.mark_first_use(session, iccid=iccid, now=server.runtime.clock.now())
        return
    assert response.status_code < 300, response.text


class TestFullLifecycle:
    def test_buy_install_use_suspend_resume_terminate(self, customer: Customer, server: LiveServer) -> None:
        esim = new_ready_esim(customer)
        assert timeline(esim) == ["preparing", "ready"]
        assert esim["install_links"]["ios"].startswith("https://esimsetup.apple.com/")

        installed = install_on_phone(customer, esim)
        assert [c["http_status"] for c in installed["callbacks"]] == [204, 204, 204]
        assert installed["state"] == "installed"
        esim = esim_now(customer, esim["id"])
        assert esim["status"] == "installed"

        report_usage(customer, server, esim["iccid"])
        esim = poll(lambda: esim_now(customer, esim["id"]), lambda e: e["status"] == "active")

        suspended = staff(server, "suspend", esim["id"], "customer reported the phone stolen")
        assert suspended.returncode == 0, suspended.stderr
        assert esim_now(customer, esim["id"])["status"] == "suspended"

        # Top-ups are refused while suspended; resuming goes back to where the eSIM had got.
        assert staff(server, "suspend", esim["id"], "again").returncode == 1
        resumed = staff(server, "resume", esim["id"], "phone found")
        assert resumed.returncode == 0, resumed.stderr
        assert esim_now(customer, esim["id"])["status"] == "active"

        terminated = staff(server, "terminate", esim["id"], "customer asked to close it")
        assert terminated.returncode == 0, terminated.stderr
        final = esim_now(customer, esim["id"])
        assert final["status"] == "terminated"
        assert timeline(final) == [
            "preparing",
            "ready",
            "installed",
            "active",
            "suspended",
            "active",
            "terminated",
        ]
        times = [event["at"] for event in final["timeline"]]
        assert times == sorted(times)
        assert staff(server, "resume", final["id"], "too late").returncode == 1

        # The phone holds the profile, so the SM-DP+ cannot cancel it: it stays installed there.
        profile = customer.client().get(f"/sandbox/smdp/profiles/{final['iccid']}").json()
        assert profile["state"] == "installed" and profile["eid"] == EID

    def test_terminating_a_profile_never_installed_takes_it_out_of_use_at_the_smdp(
        self, customer: Customer, server: LiveServer
    ) -> None:
        esim = new_ready_esim(customer)
        assert staff(server, "terminate", esim["id"], "duplicate purchase").returncode == 0
        profile = poll(
            lambda: customer.client().get(f"/sandbox/smdp/profiles/{esim['iccid']}").json(),
            lambda p: p["state"] == "unavailable",
            timeout=30,
        )
        assert profile["matching_id"] is None
        # The code shown to the customer is dead: a phone can no longer fetch the profile.
        attempt = customer.client().post(
            f"/sandbox/smdp/device/{matching_id(esim)}/install", json={"eid": EID}
        )
        assert attempt.status_code == 404

    def test_a_release_job_retried_after_an_smdp_outage_cancels_once(
        self, customer: Customer, server: LiveServer
    ) -> None:
        esim = new_ready_esim(customer)
        set_smdp_faults(customer, fail_function="cancelOrder", fail_http_status=503, fail_remaining=4)
        assert staff(server, "terminate", esim["id"], "fraud").returncode == 0
        profile = poll(
            lambda: customer.client().get(f"/sandbox/smdp/profiles/{esim['iccid']}").json(),
            lambda p: p["state"] == "unavailable",
            timeout=30,
        )
        assert profile["state"] == "unavailable"


class TestStaffRefusals:
    @pytest.mark.parametrize("action", ["suspend", "resume", "terminate"])
    def test_unknown_esim(self, server: LiveServer, action: str) -> None:
        result = staff(server, action, "esim_missing", "typo")
        assert result.returncode == 1 and "not_found" in result.stderr
        assert "Traceback" not in result.stderr

    def test_resume_needs_a_suspended_esim(self, customer: Customer, server: LiveServer) -> None:
        esim: dict[str, Any] = new_ready_esim(customer)
        result = staff(server, "resume", esim["id"], "nothing to resume")
        assert result.returncode == 1 and "esim_status_conflict" in result.stderr
        assert esim_now(customer, esim["id"])["status"] == "ready"

    def test_a_reason_is_required(self, server: LiveServer) -> None:
        result = staff(server, "suspend", "esim_x", "   ")
        assert result.returncode == 2

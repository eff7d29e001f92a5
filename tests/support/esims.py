"""Helpers for eSIM lifecycle tests: a ready eSIM, the simulated phone, staff actions, the timeline."""

from __future__ import annotations

from typing import Any

from crossbay.esim.activation import parse_activation_code
from tests.support.journey import Customer, buy, first_package, wait_fulfilled

# 32 digits whose value is 1 modulo 97 (SGP.29): what a phone reports as its EID.
EID = "89049032123451234512345678901235"
OTHER_EID = "89049032000000000000000000000163"


def new_ready_esim(customer: Customer) -> dict[str, Any]:
    """Buy a new eSIM by card and wait until it can be installed."""
    order = buy(customer, first_package(customer, "new_esim")["id"])
    fulfilled = wait_fulfilled(customer, order["id"])
    esim: dict[str, Any] = customer.get(f"/api/v1/esims/{fulfilled['esim_id']}").json()
    assert esim["status"] == "ready", esim
    return esim


def matching_id(esim: dict[str, Any]) -> str:
    return parse_activation_code(esim["activation_code"])[1]


def install_on_phone(customer: Customer, esim: dict[str, Any], **action: Any) -> dict[str, Any]:
    """The sandbox phone downloads and installs the profile; the SM-DP+ calls us back before this returns."""
    response = customer.client().post(
        f"/sandbox/smdp/device/{matching_id(esim)}/install", json={"eid": EID, **action}
    )
    assert response.status_code in (200, 409), response.text
    body: dict[str, Any] = response.json()
    return body


def esim_now(customer: Customer, esim_id: str) -> dict[str, Any]:
    body: dict[str, Any] = customer.get(f"/api/v1/esims/{esim_id}").json()
    return body


def timeline(esim: dict[str, Any]) -> list[str]:
    return [event["status"] for event in esim["timeline"]]


def set_smdp_faults(customer: Customer, **faults: Any) -> None:
    assert customer.client().put("/sandbox/smdp/faults", json=faults).status_code == 200

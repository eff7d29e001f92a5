"""Profile stock per SM-DP+: a loaded batch is drawn down by downloadOrder, an unused profile comes back,
staff hear of low stock once per crossing, an order is refused before payment when nothing is left,
and `crossbay esims stock` loads and shows it. On both databases."""

from __future__ import annotations

import logging
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from crossbay.db import transaction
from crossbay.esim import inventory, stock_watch
from crossbay.esim.activation import luhn_check_digit
from crossbay.esim.models import ProfileStockAlert
from crossbay.sandbox.smdp_models import ICCID_PREFIX
from tests.conftest import LiveServer, problem
from tests.support.journey import Customer, buy, first_package, poll, wait_fulfilled
from tests.support.keys import secret_values
from tests.support.servers import CROSSBAY


def sandbox_iccid(serial: int) -> str:
    """The ICCID the sandbox SM-DP+ hands out as its ``serial``-th profile (it counts from 1 on a clean
    database): what its vendor would have sent us in a batch file."""
    digits = f"{ICCID_PREFIX}{serial:012d}"
    return digits + luhn_check_digit(digits)


# A 19-digit ICCID (issuer number one digit shorter).
SHORT_ICCID = "898520000000000004" + luhn_check_digit("898520000000000004")


def load(server: LiveServer, serials: range) -> inventory.LoadedBatch:
    with server.runtime.sessions() as session, transaction(session):
        return inventory.load_batch(
            session,
            smdp=inventory.smdp_of(server.runtime.settings),
            iccids=[sandbox_iccid(n) for n in serials],
            label="test batch",
            now=server.runtime.clock.now(),
        )


def level(server: LiveServer) -> inventory.StockLevel:
    smdp = inventory.smdp_of(server.runtime.settings)
    with server.runtime.sessions() as session, transaction(session):
        levels = inventory.stock_levels(
            session, threshold=server.runtime.settings.profile_stock_low_threshold
        )
    return next(each for each in levels if each.smdp == smdp)


def alert(server: LiveServer) -> tuple[bool, int]:
    with server.runtime.sessions() as session, transaction(session):
        row = session.get(ProfileStockAlert, inventory.smdp_of(server.runtime.settings))
        return (row is not None and row.low_since is not None, row.alerts if row else 0)


def place(customer: Customer, package_id: str) -> Any:
    return customer.post(
        "/api/v1/orders",
        json={"package_id": package_id, "payment_method": "card"},
        headers={"Idempotency-Key": os.urandom(8).hex()},
    )


@pytest.fixture
def threshold_two(server: LiveServer) -> Iterator[None]:
    original = server.runtime.settings
    server.runtime.settings = original.model_copy(update={"profile_stock_low_threshold": 2})
    yield
    server.runtime.settings = original


def test_the_watch_is_a_registered_sweep() -> None:
    from crossbay.jobs.kinds import JOB_KINDS

    assert JOB_KINDS[stock_watch.STOCK_WATCH_JOB].every == stock_watch.SWEEP_EVERY


def test_a_sale_draws_down_the_batch_and_staff_hear_of_low_stock_once_until_restocked(
    customer: Customer, server: LiveServer, threshold_two: None, caplog: pytest.LogCaptureFixture
) -> None:
    assert load(server, range(1, 4)).added == 3
    assert load(server, range(1, 4)).added == 0  # the same file twice counts once
    smdp = inventory.smdp_of(server.runtime.settings)
    with caplog.at_level(logging.INFO, logger="crossbay.esim.stock"):
        stock_watch.watch_profile_stock(server.runtime, {})
        assert alert(server) == (False, 0)  # three left, threshold two

        order = buy(customer, first_package(customer, "new_esim")["id"])
        esim = customer.get(f"/api/v1/esims/{wait_fulfilled(customer, order['id'])['esim_id']}").json()
        assert esim["iccid"] in {sandbox_iccid(n) for n in range(1, 4)}
        now = level(server)
        assert (now.loaded, now.allocated, now.available, now.unlisted) == (3, 1, 2, 0)

        stock_watch.watch_profile_stock(server.runtime, {})
        stock_watch.watch_profile_stock(server.runtime, {})  # a second sweep says nothing new
        assert alert(server) == (True, 1)
        metrics = customer.client().get("/metrics").text
        assert f'crossbay_profile_stock{{smdp="{smdp}",state="available"}} 2.0' in metrics
        assert f'crossbay_profile_stock_low{{smdp="{smdp}"}} 1.0' in metrics
        assert f'crossbay_profile_stock_low_alerts_total{{smdp="{smdp}"}} 1.0' in metrics

        load(server, range(4, 10))
        stock_watch.watch_profile_stock(server.runtime, {})
        assert alert(server) == (False, 1)
        assert f'crossbay_profile_stock_low{{smdp="{smdp}"}} 0.0' in customer.client().get("/metrics").text

    # The background worker sweeps too: whichever sweep saw the crossing, staff were told exactly once.
    def said(level_no: int) -> list[logging.LogRecord]:
        return [r for r in caplog.records if r.name == "crossbay.esim.stock" and r.levelno == level_no]

    assert [(getattr(r, "smdp", None), getattr(r, "available", None)) for r in said(logging.WARNING)] == [
        (smdp, 2)
    ]
    assert [getattr(r, "available", None) for r in said(logging.INFO)] == [8]


def test_with_nothing_left_a_new_esim_is_refused_before_payment(
    customer: Customer, server: LiveServer
) -> None:
    package_id = first_package(customer, "new_esim")["id"]
    load(server, range(1, 2))
    waiting = place(customer, package_id)
    assert waiting.status_code == 201, waiting.text
    # The one profile is promised to the order on its way.
    refused = place(customer, package_id)
    assert refused.status_code == 409 and problem(refused)["code"] == "esim_out_of_stock"

    approved = customer.client().post(f"/sandbox/pay/card/{waiting.json()['payment']['reference']}/approve")
    assert approved.status_code in (200, 303)
    wait_fulfilled(customer, waiting.json()["id"])
    assert level(server).available == 0
    assert place(customer, package_id).status_code == 409

    load(server, range(2, 3))
    assert place(customer, package_id).status_code == 201


def test_a_profile_handed_back_unused_is_in_stock_again(customer: Customer, server: LiveServer) -> None:
    load(server, range(1, 3))
    # The SM-DP+ reserves a profile, then refuses to confirm it: the order fails and is refunded,
    # and the worker hands the profile back with cancelOrder(Available).
    fault = {"fail_function": "confirmOrder", "fail_subject_code": "8.2.1", "fail_reason_code": "3.9"}
    assert (
        customer.client().put("/sandbox/smdp/faults", json={**fault, "fail_remaining": 100}).status_code
        == 200
    )
    order = buy(customer, first_package(customer, "new_esim")["id"])
    poll(lambda: customer.get(f"/api/v1/orders/{order['id']}").json()["status"], lambda s: s == "refunded")
    final = poll(lambda: level(server), lambda now: now.allocated == 0, timeout=30)
    assert (final.loaded, final.available) == (2, 2)


def test_a_profile_the_smdp_had_but_we_never_loaded_is_counted_apart(
    customer: Customer, server: LiveServer
) -> None:
    load(server, range(100, 102))  # not what the sandbox hands out next
    order = buy(customer, first_package(customer, "new_esim")["id"])
    wait_fulfilled(customer, order["id"])
    now = level(server)
    assert (now.loaded, now.allocated, now.available, now.unlisted) == (2, 0, 2, 1)


def run_cli(server: LiveServer, *args: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CROSSBAY_")}
    env = {f"CROSSBAY_{name.upper()}": value for name, value in secret_values().items()}
    env["CROSSBAY_DATABASE_URL"] = server.runtime.settings.database_url
    return subprocess.run(
        [CROSSBAY, "esims", "stock", *args],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_stock_command_loads_a_checked_batch_and_shows_stock(server: LiveServer, tmp_path: Path) -> None:
    assert "no profile stock loaded" in run_cli(server).stdout
    bad = tmp_path / "bad.txt"
    wrong_digit = sandbox_iccid(2)[:-1] + str((int(sandbox_iccid(2)[-1]) + 1) % 10)
    bad.write_text(f"{sandbox_iccid(1)}\n{wrong_digit}\n")
    refused = run_cli(server, "load", str(bad), "--smdp", "smdp.vendor.example")
    assert refused.returncode == 1 and "lines 2" in refused.stderr and "Traceback" not in refused.stderr

    good = tmp_path / "batch-2026-11.txt"
    good.write_text(
        "# batch 2026-11 from the vendor\n"
        + "\n".join(sandbox_iccid(n) for n in range(1, 4))
        + f"\n\n{SHORT_ICCID}F\n"  # 19 digits padded to 20, as some vendors export them
    )
    loaded = run_cli(server, "load", str(good), "--smdp", "smdp.vendor.example")
    assert loaded.returncode == 0, loaded.stderr
    assert "4 profiles added to smdp.vendor.example (0 already held); 4 available" in loaded.stdout
    again = run_cli(server, "load", str(good), "--smdp", "smdp.vendor.example")
    assert "0 profiles added" in again.stdout and "(4 already held)" in again.stdout
    shown = run_cli(server).stdout.splitlines()
    assert shown[0].split("\t") == ["smdp", "loaded", "allocated", "available", "unlisted", "low"]
    assert shown[1].split("\t") == ["smdp.vendor.example", "4", "0", "4", "0", "LOW"]


def test_the_back_office_esim_screen_shows_stock_and_low_stock(server: LiveServer) -> None:
    from tests.support.staff import make_staff, sign_in_staff

    client = sign_in_staff(server.url, server.runtime, make_staff(server.runtime, "support"))
    assert "Profile stock" not in client.get("/admin/esims?lang=en").text
    load(server, range(1, 4))
    smdp = inventory.smdp_of(server.runtime.settings)
    page = client.get("/admin/esims?lang=en").text
    assert f"Profile stock at {smdp}: 3 of 3 available" in page and "Low: load a new batch" in page

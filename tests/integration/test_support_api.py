"""Tickets over HTTP: open, list, read, reply; staff answer through the service and the CLI; refusals."""

from __future__ import annotations

import os
import re
import subprocess
import uuid
from typing import Any

import httpx

from crossbay.db import transaction
from crossbay.support import service as support
from tests.conftest import LiveServer, problem
from tests.support.journey import Customer, buy, first_package, sign_in
from tests.support.servers import CROSSBAY

TICKET_KEYS = {"id", "subject", "status", "origin", "order_id", "created_at", "updated_at", "messages"}


def open_ticket(customer: Customer, **body: Any) -> dict[str, Any]:
    created = customer.post("/api/v1/tickets", json={"subject": "Top-up not there", "body": "Hello?", **body})
    assert created.status_code == 201, created.text
    ticket: dict[str, Any] = created.json()
    return ticket


def as_staff(server: LiveServer, action: Any, **kwargs: Any) -> None:
    with server.runtime.sessions() as session, transaction(session):
        action(session, now=server.runtime.clock.now(), **kwargs)


class TestTickets:
    def test_open_list_read_and_reply(self, customer: Customer, server: LiveServer) -> None:
        ticket = open_ticket(customer, subject="  My data   pack\n", body="Bought 1 GB,\nnothing yet.")
        assert set(ticket) == TICKET_KEYS
        assert (
            ticket["subject"] == "My data pack"
            and ticket["status"] == "open"
            and ticket["origin"] == "customer"
        )
        assert [(m["author"], m["body"]) for m in ticket["messages"]] == [
            ("customer", "Bought 1 GB,\nnothing yet.")
        ]

        as_staff(
            server, support.reply_as_staff, ticket_id=ticket["id"], staff_id="alice", body="Looking now."
        )
        read = customer.get(f"/api/v1/tickets/{ticket['id']}").json()
        assert read["status"] == "waiting_for_customer"
        assert [m["author"] for m in read["messages"]] == ["customer", "staff"]

        replied = customer.post(f"/api/v1/tickets/{ticket['id']}/messages", json={"body": "Thanks!"})
        assert replied.status_code == 201, replied.text
        assert replied.json()["status"] == "open" and len(replied.json()["messages"]) == 3

        as_staff(server, support.resolve_ticket, ticket_id=ticket["id"], staff_id="alice")
        resolved = customer.get(f"/api/v1/tickets/{ticket['id']}", params={"lang": "en"}).json()
        assert resolved["status"] == "resolved"
        assert resolved["messages"][-1] == {
            **resolved["messages"][-1],
            "author": "system",
            "body": "Support marked this request as resolved. Reply here if you still need help.",
        }
        # A reply reopens a resolved ticket.
        again = customer.post(f"/api/v1/tickets/{ticket['id']}/messages", json={"body": "It stopped again"})
        assert again.json()["status"] == "open"

        second = open_ticket(customer, subject="Another")
        page = customer.get("/api/v1/tickets", params={"limit": 1}).json()
        assert [t["id"] for t in page["items"]] == [second["id"]] and "messages" not in page["items"][0]
        rest = customer.get("/api/v1/tickets", params={"limit": 1, "cursor": page["next_cursor"]}).json()
        assert [t["id"] for t in rest["items"]] == [ticket["id"]] and rest["next_cursor"] is None

        # Staff actions show on the customer's activity as support's, without the staff member's name.
        activity = customer.get("/api/v1/me/activity", params={"lang": "en"}).json()["items"]
        staff_items = [a for a in activity if a["actor"] == "staff"]
        assert {a["action"] for a in staff_items} == {"ticket.replied", "ticket.status_changed"}
        assert "alice" not in str(activity)

    def test_about_an_order(self, customer: Customer) -> None:
        order = buy(customer, first_package(customer, "new_esim")["id"])
        ticket = open_ticket(customer, order_id=order["id"])
        assert ticket["order_id"] == order["id"]
        support_field = customer.get(f"/api/v1/orders/{order['id']}").json()["support"]
        assert support_field == {"ticket_id": ticket["id"], "status": "open", "origin": "customer"}

    def test_someone_elses_ticket_and_order_are_not_found(self, customer: Customer) -> None:
        mine = open_ticket(customer)
        order = buy(customer, first_package(customer, "new_esim")["id"])
        other = sign_in([customer.client()])
        assert problem(other.get(f"/api/v1/tickets/{mine['id']}"))["code"] == "not_found"
        assert problem(other.get(f"/api/v1/tickets/{mine['id']}"))["status"] == 404
        assert (
            problem(other.post(f"/api/v1/tickets/{mine['id']}/messages", json={"body": "hi"}))["status"]
            == 404
        )
        assert problem(other.get("/api/v1/tickets/tkt_nonexistent"))["code"] == "not_found"
        assert other.get("/api/v1/tickets").json()["items"] == []
        refused = problem(
            other.post("/api/v1/tickets", json={"subject": "s", "body": "b", "order_id": order["id"]})
        )
        assert refused["status"] == 422 and refused["errors"] == [
            {"field": "order_id", "code": "unknown_order", "message": "找不到此訂單"}
        ]
        assert len(customer.get(f"/api/v1/tickets/{mine['id']}").json()["messages"]) == 1

    def test_bad_input_is_a_problem(self, customer: Customer, http: httpx.Client) -> None:
        def refused(body: object, **kwargs: Any) -> dict[str, Any]:
            answer = problem(customer.post("/api/v1/tickets", json=body, **kwargs))
            assert answer["status"] == 422 and answer["code"] == "validation_failed", answer
            return answer

        assert refused({"subject": "   ", "body": "b"})["errors"][0]["field"] == "subject"
        assert refused({"subject": "s", "body": "\n\n"})["errors"][0]["code"] == "required"
        assert refused({"subject": "s" * 201, "body": "b"})["errors"][0]["code"] == "too_long"
        assert refused({"subject": "s", "body": "b" * 5001})["errors"][0]["field"] == "body"
        assert refused({"subject": "s" * 401, "body": "b"})["errors"][0]["field"] == "subject"  # schema bound
        assert refused({"subject": 5, "body": "b"})["errors"][0]["field"] == "subject"
        assert refused({"body": "b"})["errors"][0]["field"] == "subject"
        malformed = customer.post(
            "/api/v1/tickets", content=b"{not json", headers={"Content-Type": "application/json"}
        )
        assert problem(malformed)["code"] == "malformed_request"
        ticket = open_ticket(customer)
        empty = problem(customer.post(f"/api/v1/tickets/{ticket['id']}/messages", json={"body": " "}))
        assert empty["status"] == 422 and empty["errors"][0]["field"] == "body"
        assert problem(customer.get("/api/v1/tickets", params={"cursor": "%%%"}))["status"] == 422
        assert problem(http.get("/api/v1/tickets"))["status"] == 401
        assert problem(http.post("/api/v1/tickets", json={"subject": "s", "body": "b"}))["status"] == 401

    def test_an_idempotency_key_opens_one_ticket(self, customer: Customer) -> None:
        key = {"Idempotency-Key": str(uuid.uuid4())}
        body = {"subject": "Once", "body": "only once"}
        first = customer.post("/api/v1/tickets", json=body, headers=key)
        second = customer.post("/api/v1/tickets", json=body, headers=key)
        assert first.status_code == second.status_code == 201
        assert second.headers["Idempotency-Replayed"] == "true" and first.json() == second.json()
        assert len(customer.get("/api/v1/tickets").json()["items"]) == 1

    def test_a_busy_day_is_capped(self, customer: Customer) -> None:
        for _ in range(support.DAILY_TICKETS_PER_CUSTOMER):
            open_ticket(customer)
        capped = customer.post("/api/v1/tickets", json={"subject": "s", "body": "b"})
        assert problem(capped)["code"] == "rate_limited" and int(capped.headers["Retry-After"]) > 0


class TestPages:
    def test_list_new_thread_and_reply(self, customer: Customer, server: LiveServer) -> None:
        with httpx.Client(base_url=server.url, cookies={"cb_session": customer.token}) as browser:
            form = browser.get("/support/new?lang=en")
            assert form.status_code == 200 and "New support request" in form.text
            csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
            assert csrf is not None
            bad = browser.post("/support/new", data={"csrf": csrf.group(1), "subject": "", "body": "x"})
            assert bad.status_code == 422 and "Enter a subject" in bad.text  # ?lang=en is remembered
            made = browser.post(
                "/support/new", data={"csrf": csrf.group(1), "subject": "Where is it", "body": "Hi"}
            )
            assert made.status_code == 303
            thread_url = made.headers["location"]
            thread = browser.get(thread_url)
            assert "Where is it" in thread.text and "Support is on it" in thread.text
            ticket_id = thread_url.rsplit("/", 1)[-1]
            replied = browser.post(
                f"/support/{ticket_id}/reply", data={"csrf": csrf.group(1), "body": "More"}
            )
            assert replied.status_code == 303
            assert "More" in browser.get(f"/support/{ticket_id}").text
            assert "Where is it" in browser.get("/support?lang=zh-Hans").text
            assert 'href="/support"' in browser.get("/home").text
        other = sign_in([customer.client()])
        with httpx.Client(base_url=server.url, cookies={"cb_session": other.token}) as browser:
            assert browser.get(f"/support/{ticket_id}").status_code == 404


class TestCommandLine:
    def test_staff_assign_reply_and_resolve(self, customer: Customer, server: LiveServer) -> None:
        ticket = open_ticket(customer)
        env = {k: v for k, v in os.environ.items() if not k.startswith("CROSSBAY_")}
        env["CROSSBAY_DATABASE_URL"] = server.runtime.settings.database_url

        def run(*args: str) -> str:
            done = subprocess.run(
                [CROSSBAY, "tickets", *args], env=env, capture_output=True, text=True, timeout=60
            )
            assert done.returncode == 0, done.stderr
            return done.stdout

        assert ticket["id"] in run("list", "--unassigned")
        run("assign", ticket["id"], "--staff", "bob")
        assert ticket["id"] in run("list", "--assignee", "bob", "--status", "open")
        run("reply", ticket["id"], "--staff", "bob", "--body", "We have refreshed your profile.")
        assert customer.get(f"/api/v1/tickets/{ticket['id']}").json()["status"] == "waiting_for_customer"
        run("resolve", ticket["id"], "--staff", "bob", "--note", "Closing: all good now.")
        read = customer.get(f"/api/v1/tickets/{ticket['id']}").json()
        assert read["status"] == "resolved"
        assert [m["body"] for m in read["messages"]][-2:] == [
            "We have refreshed your profile.",
            "Closing: all good now.",
        ]
        assert "staff:bob" in run("show", ticket["id"])
        refused = subprocess.run(
            [CROSSBAY, "tickets", "reply", ticket["id"], "--staff", "bob", "--body", " "],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert (
            refused.returncode == 1
            and "validation_failed" in refused.stderr
            and "Traceback" not in refused.stderr
        )

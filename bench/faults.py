"""Money under faults: orders through real HTTP while the worker dies and partners misbehave.

Starts two `crossbay serve` processes and one `crossbay worker` on a fresh
database, signs in customers (each gets an eSIM, a payment PIN and wallet
balance), then pushes N orders concurrently: new eSIMs and top-ups, paid by
card (approved, declined then approved, cancelled while being paid, abandoned
until they expire, paid after they expired) or from the wallet with the PIN
(sometimes twice at once). Meanwhile:

- a chaos thread SIGKILLs the worker every 2–6 s and starts a new one, and
  switches SM-DP+ faults on and off (delays of 0–4 s against a 2 s timeout,
  503 answers, now and then an outage long enough for fulfilments to give up
  and their orders to be refunded);
- every card notification reaches /webhooks/card 1–3 times and out of order:
  the sandbox delivers once (and one server repeats it), and the bench re-sends
  the provider's own event, signed with the deployment's webhook secret, plus
  older ones (the earlier decline after the success, a failure that never
  happened, the success again under another event id, two copies at the same
  instant, a copy too old to be accepted).

Then it stops the chaos, leaves one worker running, waits (with a deadline)
until every order is final, and checks the books in the database itself:

    orders=N lost=0 double_charged=0 double_provisioned=0 ledger=balanced

and exits non-zero if anything was lost, taken twice, provisioned twice,
mis-booked, or never settled.

    python bench/faults.py                               # 1,000 orders on PostgreSQL
    python bench/faults.py --orders 100 --engine sqlite
"""

from __future__ import annotations

import argparse
import heapq
import itertools
import json
import random
import shutil
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from crossbay.models import Job, Order, OrderEvent
from crossbay.payments.card import SIGNATURE_HEADER, sign_webhook
from tests.support.journey import Customer, poll, register_identity, sign_in
from tests.support.servers import Deployment, Process, free_port, postgres_schema

FINAL = ("fulfilled", "refunded", "cancelled", "expired")
PASSWORD = "harbour-lantern-92"
ORDER_TTL_SECONDS = 20
# serve0 (the partners' callback address) repeats each notification once, serve1 never: 1 or 2 copies.
SANDBOX_REPEATS = (1, 0)
API_VERSION = "2024-06-20"


def log(message: str) -> None:
    print(f"[faults {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --- bookkeeping -------------------------------------------------------------------------------


class Tally:
    """Thread-safe counters, plus a few samples of anything unexpected."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.counts: Counter[str] = Counter()
        self.samples: dict[str, list[str]] = defaultdict(list)

    def add(self, key: str, n: int = 1) -> None:
        with self._lock:
            self.counts[key] += n

    def sample(self, key: str, text: str) -> None:
        with self._lock:
            self.counts[key] += 1
            if len(self.samples[key]) < 3:
                self.samples[key].append(text[:400])

    def get(self, key: str) -> int:
        with self._lock:
            return self.counts[key]

    def prefixed(self, prefix: str) -> dict[str, int]:
        with self._lock:
            return {k[len(prefix) :]: v for k, v in sorted(self.counts.items()) if k.startswith(prefix)}


class Scheduler:
    """Runs callables at given times on a few threads (late payers, re-delivered notifications)."""

    def __init__(self, threads: int, tally: Tally) -> None:
        self._heap: list[tuple[float, int, Callable[[], None], str]] = []
        self._cond = threading.Condition()
        self._seq = itertools.count()
        self._busy = 0
        self._closed = False
        self._tally = tally
        self._threads = [
            threading.Thread(target=self._loop, name=f"scheduler-{i}", daemon=True) for i in range(threads)
        ]
        for thread in self._threads:
            thread.start()

    def at(self, delay: float, action: Callable[[], None], label: str) -> None:
        with self._cond:
            if self._closed:
                return
            heapq.heappush(self._heap, (time.monotonic() + max(delay, 0.0), next(self._seq), action, label))
            self._cond.notify()

    def _loop(self) -> None:
        while True:
            with self._cond:
                while True:
                    if self._closed:
                        return
                    now = time.monotonic()
                    if self._heap and self._heap[0][0] <= now:
                        _, _, action, label = heapq.heappop(self._heap)
                        self._busy += 1
                        break
                    wait = self._heap[0][0] - now if self._heap else 0.5
                    self._cond.wait(min(wait, 0.5))
            try:
                action()
            except Exception as error:  # a bench bug or an unreachable server: counted, never silent
                self._tally.sample(f"scheduled_error:{label}", f"{type(error).__name__}: {error}")
            finally:
                with self._cond:
                    self._busy -= 1
                    self._cond.notify_all()

    def drain(self, deadline: float) -> int:
        """Wait until everything scheduled has run or the deadline passes; returns what is left."""
        with self._cond:
            while (self._heap or self._busy) and time.monotonic() < deadline:
                self._cond.wait(0.2)
            return len(self._heap) + self._busy

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._heap.clear()
            self._cond.notify_all()
        for thread in self._threads:
            thread.join(5)


# --- the deployment ----------------------------------------------------------------------------


@contextmanager
def database(engine: str) -> Iterator[str]:
    if engine == "postgresql":
        with postgres_schema() as url:
            yield url
    else:
        directory = tempfile.mkdtemp(prefix="crossbay-faults-")
        try:
            yield f"sqlite:///{directory}/crossbay.db"
        finally:
            shutil.rmtree(directory, ignore_errors=True)


class Cluster:
    """Two servers and a replaceable worker sharing one database and one var dir."""

    def __init__(self, url: str, workers: int) -> None:
        self.deployment = Deployment(
            url,
            extra_env={
                "CROSSBAY_LOG_LEVEL": "WARNING",
                "CROSSBAY_JOB_LEASE_SECONDS": "3",
                "CROSSBAY_JOB_BACKOFF_SECONDS": "0.2",
                "CROSSBAY_JOB_BACKOFF_MAX_SECONDS": "2",
                "CROSSBAY_SMDP_TIMEOUT_SECONDS": "2",
                "CROSSBAY_SANDBOX_WEBHOOK_REPEAT_DELAY_SECONDS": "0.5",
                "CROSSBAY_ORDER_TTL_SECONDS": str(ORDER_TTL_SECONDS),
                # The bench buys many eSIMs per identity; the quota is not what it tests.
                "CROSSBAY_IDENTITY_ESIM_QUOTA": "100000",
            },
        )
        self.workers_wanted = workers
        self.workers: list[Process] = []
        self.urls: list[str] = []
        self._lock = threading.Lock()
        self._names = itertools.count()

    def start(self) -> list[str]:
        self.deployment.run("db", "upgrade")
        self.deployment.run("seed")
        ports = [free_port() for _ in SANDBOX_REPEATS]
        self.urls = [f"http://127.0.0.1:{port}" for port in ports]
        for index, (port, repeats) in enumerate(zip(ports, SANDBOX_REPEATS, strict=True)):
            self.deployment.start(
                f"faults-serve{index}",
                "serve",
                "--port",
                str(port),
                port=port,
                CROSSBAY_BASE_URL=self.urls[0],
                CROSSBAY_SANDBOX_WEBHOOK_REPEATS=str(repeats),
            )
        for _ in range(self.workers_wanted):
            self.workers.append(self._new_worker())
        return self.urls

    def _new_worker(self) -> Process:
        return self.deployment.start(
            f"faults-worker{next(self._names)}",
            "worker",
            CROSSBAY_BASE_URL=self.urls[0],
        )

    def kill_one_worker(self, rng: random.Random) -> None:
        """SIGKILL a running worker, as when its machine dies, then start its replacement."""
        with self._lock:
            victim = rng.choice(self.workers)
            victim.kill()
            self.workers.remove(victim)
            self.workers.append(self._new_worker())

    def ensure_workers(self) -> int:
        """Replace any worker that is not running; returns how many were started."""
        with self._lock:
            dead = [w for w in self.workers if w.popen.poll() is not None]
            for worker in dead:
                self.workers.remove(worker)
            while len(self.workers) < self.workers_wanted:
                self.workers.append(self._new_worker())
            return len(dead)

    def secrets(self) -> dict[str, str]:
        values: dict[str, str] = json.loads((self.deployment.var_dir / "secrets.json").read_text())
        return values


# --- the partners' side: chaos and notifications -----------------------------------------------


class Chaos(threading.Thread):
    """Until stopped: kills the worker every 2–6 s, switches SM-DP+ faults every 1–4 s (outages 15–30 s)."""

    def __init__(self, cluster: Cluster, client: httpx.Client, tally: Tally, seed: int, deadline: float):
        super().__init__(name="chaos", daemon=True)
        self.cluster, self.client, self.tally = cluster, client, tally
        self.rng = random.Random(seed)
        self.deadline = deadline
        self.stopped = threading.Event()

    def run(self) -> None:
        now = time.monotonic()
        next_kill, next_fault = now + self.rng.uniform(2, 6), now + self.rng.uniform(1, 4)
        while not self.stopped.is_set() and time.monotonic() < self.deadline:
            self.stopped.wait(max(0.0, min(next_kill, next_fault) - time.monotonic()))
            if self.stopped.is_set():
                break
            now = time.monotonic()
            try:
                if now >= next_kill:
                    self.cluster.kill_one_worker(self.rng)
                    self.tally.add("chaos:worker_kills")
                    next_kill = now + self.rng.uniform(2, 6)
                if now >= next_fault:
                    next_fault = now + self._switch_fault()
            except Exception as error:
                self.tally.sample("chaos:errors", f"{type(error).__name__}: {error}")

    def _switch_fault(self) -> float:
        """Replace the SM-DP+ fault set; returns how long to keep it."""
        roll, hold = self.rng.random(), self.rng.uniform(1, 4)
        if roll < 0.33:
            body: dict[str, Any] = {}
            kind = "cleared"
        elif roll < 0.76:
            body = {"delay_seconds": round(self.rng.uniform(0, 4), 2)}
            kind = "timeouts" if body["delay_seconds"] > 2 else "delays"
        elif roll < 0.95:
            body = {
                "delay_seconds": round(self.rng.uniform(0, 1), 2),
                "fail_http_status": 503,
                "fail_remaining": self.rng.randint(1, 6),
            }
            kind = "http_503"
        else:
            # An outage long enough for some fulfilments to give up: those orders must be refunded.
            body = {"fail_http_status": 503, "fail_remaining": 1000}
            kind = "outage_503"
            hold = self.rng.uniform(15, 30)
        response = self.client.put("/sandbox/smdp/faults", json=body)
        if response.status_code != 200:
            raise AssertionError(f"PUT /sandbox/smdp/faults answered {response.status_code}")
        self.tally.add(f"fault:{kind}")
        return hold

    def stop(self) -> None:
        self.stopped.set()
        self.join(30)


class Notifications:
    """Re-delivers card notifications the provider sent (or could have sent), signed as it signs them."""

    def __init__(
        self,
        clients: list[httpx.Client],
        secrets: dict[str, str],
        engine: sa.Engine,
        scheduler: Scheduler,
        tally: Tally,
    ) -> None:
        self.clients = clients
        self.webhook_secret = secrets["card_webhook_secret"]
        self.api_key = secrets["card_secret_key"]
        self.engine = engine
        self.scheduler = scheduler
        self.tally = tally

    def intent(self, reference: str) -> dict[str, Any]:
        response = self.clients[0].get(
            f"/sandbox/card/v1/payment_intents/{reference}",
            headers={"Authorization": f"Bearer {self.api_key}"},
        )
        response.raise_for_status()
        body: dict[str, Any] = response.json()
        return body

    def provider_event_id(self, reference: str, kind: str) -> str | None:
        """The id the provider gave the event we received for this payment, if we recorded it."""
        with self.engine.connect() as connection:
            found = connection.execute(
                sa.text(
                    "SELECT e.event_id FROM provider_events e JOIN payments p ON p.id = e.payment_id "
                    "WHERE p.provider = 'card' AND p.reference = :ref AND e.kind = :kind "
                    "ORDER BY e.received_at LIMIT 1"
                ),
                {"ref": reference, "kind": kind},
            ).scalar()
        return str(found) if found else None

    def send(self, event: dict[str, Any], *, age: int = 0, expect_refusal: bool = False) -> None:
        body = json.dumps(event, separators=(",", ":")).encode()
        signature = sign_webhook(body, self.webhook_secret, int(time.time()) - age)
        client = random.choice(self.clients)
        response = client.post(
            "/webhooks/card",
            content=body,
            headers={"Content-Type": "application/json; charset=utf-8", SIGNATURE_HEADER: signature},
        )
        if expect_refusal:
            if 400 <= response.status_code < 500:
                self.tally.add("redelivered:refused_as_expected")
            else:
                self.tally.sample("redelivered:stale_accepted", f"{response.status_code} {event['id']}")
        elif response.is_success:
            self.tally.add("redelivered:accepted")
        else:
            self.tally.sample(
                f"redelivered:unexpected_{response.status_code}", f"{event['type']} {response.text}"
            )

    def _event(self, event_id: str, kind: str, obj: dict[str, Any], created: int) -> dict[str, Any]:
        return {
            "id": event_id,
            "object": "event",
            "api_version": API_VERSION,
            "created": created,
            "livemode": False,
            "pending_webhooks": 1,
            "request": {"id": None, "idempotency_key": None},
            "type": kind,
            "data": {"object": obj},
        }

    def _replay(self, reference: str, kind: str, *, age: int = 0, expect_refusal: bool = False) -> None:
        """The provider's own event again (same event id), or a new one saying the same thing."""
        obj = self.intent(reference)
        if kind == "payment_intent.payment_failed":
            obj = _as_declined(obj)
        event_id = self.provider_event_id(reference, kind)
        if event_id is None:
            self.tally.add("redelivered:provider_id_unknown")
            event_id = f"evt_bench{uuid.uuid4().hex[:20]}"
        self.send(
            self._event(event_id, kind, obj, int(time.time()) - age), age=age, expect_refusal=expect_refusal
        )

    def _other_event(self, reference: str, kind: str, age: int) -> None:
        """A notification under an event id never seen before: an older attempt, or the success again."""
        obj = self.intent(reference)
        if kind == "payment_intent.payment_failed":
            obj = _as_declined(obj)
        self.send(self._event(f"evt_bench{uuid.uuid4().hex[:20]}", kind, obj, int(time.time()) - age))

    def after_payment(
        self, reference: str, *, sandbox_copies: int, declined: bool, rng: random.Random
    ) -> None:
        """Schedule the extra, reordered copies for a payment the payer just approved."""
        succeeded = "payment_intent.succeeded"
        failed = "payment_intent.payment_failed"

        def later(delay: float, label: str, action: Callable[[], None]) -> None:
            self.scheduler.at(delay, action, label)
            self.tally.add("redelivered:scheduled")

        # The provider's own event until it has arrived 1–3 times in all.
        for _ in range(max(0, rng.choice((1, 2, 3)) - sandbox_copies)):
            later(rng.uniform(0, 4), "replay", partial(self._replay, reference, succeeded))
        if rng.random() < 0.15:  # the same event twice at the same instant, to either server
            due = rng.uniform(0, 2)
            for _ in range(2):
                later(due, "replay_race", partial(self._replay, reference, succeeded))
        if declined:  # the decline that came first, delivered again after the success
            for _ in range(rng.randint(1, 2)):
                later(rng.uniform(0, 3), "old_decline", partial(self._replay, reference, failed))
        if rng.random() < 0.2:  # a failure the provider never had, dated before the success
            age = rng.randint(30, 200)
            later(rng.uniform(0, 3), "forged_failure", partial(self._other_event, reference, failed, age))
        if rng.random() < 0.3:  # the success again under a new event id, later
            later(rng.uniform(1, 6), "success_again", partial(self._other_event, reference, succeeded, 0))
        if rng.random() < 0.2:  # genuine but signed a while ago: still inside the 5-minute window
            age = rng.randint(60, 240)
            later(rng.uniform(0, 4), "old_signature", partial(self._replay, reference, succeeded, age=age))
        if rng.random() < 0.1:  # a replay from outside the window: must be refused
            age = rng.randint(400, 900)
            later(
                rng.uniform(0, 4),
                "stale_replay",
                partial(self._replay, reference, succeeded, age=age, expect_refusal=True),
            )


def _as_declined(intent: dict[str, Any]) -> dict[str, Any]:
    """The intent as it was when the card was declined."""
    return {
        **intent,
        "status": "requires_payment_method",
        "amount_received": 0,
        "latest_charge": None,
        "next_action": None,
        "last_payment_error": {
            "type": "card_error",
            "code": "card_declined",
            "decline_code": "generic_decline",
            "message": "Your card was declined.",
        },
    }


# --- customers ---------------------------------------------------------------------------------


@dataclass
class Shopper:
    customer: Customer
    pin: str
    esim_id: str


class Traffic:
    """What the customers do over HTTP: every call goes to 127.0.0.1."""

    def __init__(
        self,
        clients: list[httpx.Client],
        notifications: Notifications,
        scheduler: Scheduler,
        tally: Tally,
        deadline: float,
    ) -> None:
        self.clients = clients
        self.notifications = notifications
        self.scheduler = scheduler
        self.tally = tally
        self.deadline = deadline
        self.new_esim_packages: list[dict[str, Any]] = []
        self.topup_packages: list[dict[str, Any]] = []
        self.order_ids: list[str] = []
        self._ids_lock = threading.Lock()

    # -- HTTP with retries on dropped connections (each call here is safe to repeat)

    def call(
        self, method: str, path: str, *, client: httpx.Client | None = None, attempts: int = 4, **kwargs: Any
    ) -> httpx.Response:
        last: Exception | None = None
        for attempt in range(attempts):
            chosen = client or random.choice(self.clients)
            try:
                response = chosen.request(method, path, **kwargs)
            except httpx.TransportError as error:
                self.tally.add("http:transport_errors")
                last = error
                time.sleep(0.2 * (attempt + 1))
                continue
            if response.status_code >= 500:
                self.tally.sample(
                    f"http:5xx {method} {_template(path)}", f"{response.status_code} {response.text}"
                )
            if (response.status_code >= 500 or _code(response) == "idempotency_request_in_progress") and (
                attempt < attempts - 1
            ):
                time.sleep(0.2 * (attempt + 1))
                continue
            return response
        raise AssertionError(f"{method} {path}: no answer after {attempts} attempts ({last})")

    # -- setup

    def load_packages(self, customer: Customer) -> None:
        def items(purpose: str) -> list[dict[str, Any]]:
            found: list[dict[str, Any]] = customer.get("/api/v1/packages", params={"for": purpose}).json()[
                "items"
            ]
            return found

        self.new_esim_packages, self.topup_packages = items("new_esim"), items("topup")
        assert self.new_esim_packages and self.topup_packages

    def new_shopper(self, index: int) -> Shopper:
        customer = sign_in(self.clients)
        register_identity(customer)
        auth = customer.auth()
        response = self.call("PUT", "/api/v1/me/password", json={"new_password": PASSWORD}, headers=auth)
        assert response.status_code == 204, response.text
        rng = random.Random(index)
        for _ in range(20):
            pin = f"{rng.randrange(10**6):06d}"
            response = self.call(
                "PUT", "/api/v1/me/payment-pin", json={"pin": pin, "password": PASSWORD}, headers=auth
            )
            if response.status_code == 204:
                break
            assert _code(response) == "weak_pin", response.text
        else:
            raise AssertionError("no acceptable payment PIN in 20 tries")
        # The eSIM its top-ups go to, bought and fulfilled before any fault starts.
        order = self.create_order(customer, self.new_esim_packages[0]["id"], None, "card")
        assert order is not None
        self.approve(order["payment"]["reference"], 0)
        fulfilled = poll(
            lambda: customer.get(f"/api/v1/orders/{order['id']}").json(),
            lambda o: o["status"] in FINAL,
            timeout=120,
            interval=0.2,
        )
        assert fulfilled["status"] == "fulfilled", fulfilled
        shopper = Shopper(customer, pin, fulfilled["esim_id"])
        assert self.wallet_topup(shopper, 100_000, random.Random(index), wait=True)
        return shopper

    # -- the building blocks

    def create_order(
        self, customer: Customer, package_id: str, esim_id: str | None, method: str
    ) -> dict[str, Any] | None:
        body: dict[str, Any] = {"package_id": package_id, "payment_method": method}
        if esim_id:
            body["esim_id"] = esim_id
        headers = {**customer.auth(), "Idempotency-Key": str(uuid.uuid4())}
        response = self.call("POST", "/api/v1/orders", json=body, headers=headers)
        if response.status_code != 201:
            self.tally.sample(f"orders:create_refused_{response.status_code}", response.text)
            return None
        order: dict[str, Any] = response.json()
        with self._ids_lock:
            self.order_ids.append(order["id"])
        return order

    def approve(self, reference: str, server: int) -> bool:
        """The payer approves at the cashier; True if the provider took the money now."""
        response = self.call("POST", f"/sandbox/pay/card/{reference}/approve", client=self.clients[server])
        if response.status_code in (200, 303):
            return True
        if response.status_code == 409:  # already paid or cancelled at the provider
            self.tally.add("cashier:approve_refused")
            return False
        raise AssertionError(f"approve answered {response.status_code}: {response.text}")

    def decline(self, reference: str) -> None:
        response = self.call("POST", f"/sandbox/pay/card/{reference}/decline")
        assert response.status_code in (200, 303, 409), response.text

    def approve_and_notify(self, reference: str, rng: random.Random, *, declined: bool = False) -> bool:
        server = rng.randrange(len(self.clients))
        if not self.approve(reference, server):
            return False
        self.notifications.after_payment(
            reference, sandbox_copies=1 + SANDBOX_REPEATS[server], declined=declined, rng=rng
        )
        return True

    def cancel(self, customer: Customer, order_id: str) -> int:
        response = self.call("POST", f"/api/v1/orders/{order_id}/cancel", headers=customer.auth())
        assert response.status_code in (200, 409), response.text
        return response.status_code

    def pay_with_wallet(self, shopper: Shopper, order_id: str) -> httpx.Response:
        response = self.call(
            "POST",
            f"/api/v1/orders/{order_id}/pay",
            json={"pin": shopper.pin},
            headers=shopper.customer.auth(),
        )
        expected = {200: "paid", 402: "insufficient_balance", 409: "not_payable"}
        if response.status_code not in expected:
            self.tally.sample(f"wallet:unexpected_{response.status_code}", response.text)
        else:
            self.tally.add(f"wallet:pay_{expected[response.status_code]}")
        return response

    def wallet_topup(self, shopper: Shopper, amount: int, rng: random.Random, *, wait: bool) -> bool:
        customer = shopper.customer
        response = self.call(
            "POST",
            "/api/v1/wallet/topups",
            json={"amount": {"amount": amount, "currency": "HKD"}, "payment_method": "card"},
            headers={**customer.auth(), "Idempotency-Key": str(uuid.uuid4())},
        )
        if response.status_code == 422:  # the monthly limit: nothing was taken
            self.tally.add("wallet_topups:over_limit")
            return False
        assert response.status_code == 201, response.text
        topup = response.json()
        if not self.approve_and_notify(topup["payment"]["reference"], rng):
            return False
        self.tally.add("wallet_topups:paid")
        if wait:
            poll(
                lambda: customer.get(f"/api/v1/wallet/topups/{topup['id']}").json(),
                lambda t: t["status"] == "completed",
                timeout=60,
                interval=0.2,
            )
        return True

    # -- one order, start to (the customer's) finish

    def one_order(self, shoppers: list[Shopper], index: int, seed: int) -> None:
        if time.monotonic() > self.deadline:
            self.tally.add("orders:skipped_after_deadline")
            return
        rng = random.Random(seed * 1_000_003 + index)
        shopper = rng.choice(shoppers)
        new_esim = rng.random() < 0.25
        package = rng.choice(self.new_esim_packages if new_esim else self.topup_packages)
        method = "wallet" if rng.random() < 0.25 else "card"
        if rng.random() < 0.03:  # now and then someone refills their wallet as well
            self.wallet_topup(shopper, rng.choice((5_000, 10_000, 20_000)), rng, wait=False)
        order = self.create_order(
            shopper.customer, package["id"], None if new_esim else shopper.esim_id, method
        )
        if order is None:
            return
        self.tally.add(f"orders:{'new_esim' if new_esim else 'topup'}")
        if method == "wallet":
            self._wallet_flow(shopper, order, rng)
        else:
            self._card_flow(shopper, order, rng)

    def _wallet_flow(self, shopper: Shopper, order: dict[str, Any], rng: random.Random) -> None:
        roll = rng.random()
        if roll < 0.05:
            self.tally.add("flow:wallet_cancelled_unpaid")
            self.cancel(shopper.customer, order["id"])
            return
        if roll < 0.15:
            self.tally.add("flow:wallet_paid_twice_at_once")
            with ThreadPoolExecutor(2) as pool:
                answers = list(pool.map(lambda _: self.pay_with_wallet(shopper, order["id"]), range(2)))
            if sum(a.status_code == 200 for a in answers) > 1:
                # Both answers say paid: fine only if the books show one payment (checked at the end).
                self.tally.add("wallet:both_payments_answered_200")
        else:
            self.tally.add("flow:wallet")
            answers = [self.pay_with_wallet(shopper, order["id"])]
        if all(a.status_code == 402 for a in answers):
            self.cancel(shopper.customer, order["id"])  # not enough stored value: give up the order

    def _card_flow(self, shopper: Shopper, order: dict[str, Any], rng: random.Random) -> None:
        reference = order["payment"]["reference"]
        customer = shopper.customer
        roll = rng.random()
        if roll < 0.68:
            self.tally.add("flow:card_approved")
            self.approve_and_notify(reference, rng)
        elif roll < 0.80:
            self.tally.add("flow:card_declined_then_approved")
            self.decline(reference)
            self.approve_and_notify(reference, rng, declined=True)
        elif roll < 0.85:
            self.tally.add("flow:card_declined_then_cancelled")
            self.decline(reference)
            self.cancel(customer, order["id"])
            if rng.random() < 0.4:  # ... and then paid anyway at the still-open cashier
                self.tally.add("flow:card_paid_after_cancel")
                self.approve_and_notify(reference, rng, declined=True)
        elif roll < 0.91:
            self.tally.add("flow:card_cancel_races_payment")
            with ThreadPoolExecutor(2) as pool:
                cancelled = pool.submit(self.cancel, customer, order["id"])
                paid = pool.submit(self.approve_and_notify, reference, rng)
                cancelled.result()
                paid.result()
        elif roll < 0.95:
            self.tally.add("flow:card_abandoned")  # never paid: expires through the worker
        else:
            self.tally.add("flow:card_paid_around_expiry")
            late = ORDER_TTL_SECONDS + rng.uniform(-4, 20)
            self.scheduler.at(late, lambda: self._late_payment(reference, rng), "late_payment")

    def _late_payment(self, reference: str, rng: random.Random) -> None:
        if self.approve_and_notify(reference, rng):
            self.tally.add("cashier:late_payment_taken")


def _template(path: str) -> str:
    parts = path.split("/")
    return "/".join(
        "{id}" if part.startswith(("ord_", "pi_", "wtu_")) or len(part) > 24 else part for part in parts
    )


def _code(response: httpx.Response) -> str | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return body.get("code") if isinstance(body, dict) else None


# --- waiting and checking ----------------------------------------------------------------------


def unsettled(engine: sa.Engine) -> tuple[int, int]:
    """Orders not yet final, and jobs due now or running (later ones, e.g. reconciliation, may wait)."""
    due = sa.or_(Job.status == "running", (Job.status == "pending") & (Job.run_at <= datetime.now(UTC)))
    with engine.connect() as connection:
        orders = connection.execute(
            sa.select(sa.func.count()).select_from(Order).where(Order.status.not_in(FINAL))
        ).scalar_one()
        jobs = connection.execute(sa.select(sa.func.count()).select_from(Job).where(due)).scalar_one()
    return int(orders), int(jobs)


@dataclass
class Findings:
    """Each problem once, keyed by the order (or profile, or posting) it is about, with its evidence."""

    orders: int = 0
    lost: dict[str, str] = field(default_factory=dict)
    double_charged: dict[str, str] = field(default_factory=dict)
    double_provisioned: dict[str, str] = field(default_factory=dict)
    unbalanced: dict[str, str] = field(default_factory=dict)
    other: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    context: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (
            self.lost or self.double_charged or self.double_provisioned or self.unbalanced or self.other
        )


def check_books(engine: sa.Engine, bench_orders: set[str]) -> Findings:
    """Everything from the database itself: the provider's books, our ledger, eSIMs, bundles, profiles."""
    found = Findings(orders=len(bench_orders))
    with engine.connect() as c:

        def rows(sql: str) -> list[Any]:
            return list(c.execute(sa.text(sql)))

        orders = {
            r.id: r for r in rows("SELECT id, status, kind, esim_id, total, payment_method FROM orders")
        }
        payments = rows("SELECT id, order_id, topup_id, provider, reference, status, amount FROM payments")
        intents = {
            r.id: r for r in rows("SELECT id, status, amount, amount_refunded FROM sandbox_card_intents")
        }
        provider_refunds = Counter(r.intent_id for r in rows("SELECT intent_id FROM sandbox_card_refunds"))
        tx_kinds = Counter(
            (r.kind, r.reference) for r in rows("SELECT kind, reference FROM ledger_transactions")
        )
        entries = rows(
            "SELECT t.id AS tx, a.code, e.amount, e.currency FROM ledger_entries e "
            "JOIN ledger_transactions t ON t.id = e.transaction_id "
            "JOIN ledger_accounts a ON a.id = e.account_id"
        )
        esims = rows("SELECT id, order_id, iccid, status FROM esims")
        bundles = Counter(r.order_id for r in rows("SELECT order_id FROM bundles"))
        quota_steps = Counter(
            r.order_id for r in rows("SELECT order_id FROM order_events WHERE step = 'quota_added'")
        )
        profiles = rows("SELECT iccid, state FROM sandbox_smdp_profiles")
        topups = {r.id: r for r in rows("SELECT id, status FROM wallet_topups")}
        jobs = rows(
            "SELECT kind, status, count(*) AS n FROM jobs GROUP BY kind, status ORDER BY kind, status"
        )
        # Typed reads (the timestamps), for how far behind the worker ran.
        events = c.execute(sa.select(OrderEvent.order_id, OrderEvent.status, OrderEvent.at)).all()
        expires_at = dict(c.execute(sa.select(Order.id, Order.expires_at)).all())

    by_order: dict[str, list[Any]] = defaultdict(list)
    for payment in payments:
        if payment.order_id:
            by_order[payment.order_id].append(payment)
    esims_of: dict[str, list[Any]] = defaultdict(list)
    for esim in esims:
        esims_of[esim.order_id].append(esim)

    def captured(payment: Any) -> int:
        return tx_kinds[("payment.captured", payment.id)]

    def refunded(payment: Any) -> int:
        return tx_kinds[("payment.refunded", payment.id)]

    def kept(payment: Any) -> tuple[bool, int]:
        """Was money taken for this payment, and how much of it is still taken (not given back)."""
        if payment.provider == "wallet":
            return captured(payment) > 0, payment.amount * (captured(payment) - refunded(payment))
        intent = intents.get(payment.reference)
        if intent is None or intent.status != "succeeded":
            return False, 0
        return True, intent.amount - intent.amount_refunded

    # Orders: money taken (at the provider or from the wallet) ends delivered or given back, once.
    for order_id, order in orders.items():
        pays = by_order[order_id]
        taken = [p for p in pays if kept(p)[0]]
        still_kept = sum(kept(p)[1] for p in pays)
        ledger_captures = sum(captured(p) for p in pays)
        evidence = (
            f"{order_id} kind={order.kind} method={order.payment_method} status={order.status} "
            f"total={order.total} still_taken={still_kept} payments="
            + ",".join(f"{p.id}:{p.status}:{p.reference}" for p in pays)
        )
        if taken and order.status != "fulfilled" and still_kept:
            found.lost[order_id] = evidence
        if taken and not ledger_captures:
            found.lost[order_id] = "taken at the provider, never booked: " + evidence
        if len(taken) > 1 or ledger_captures > 1 or still_kept > order.total:
            found.double_charged[order_id] = f"{evidence} captures={len(taken)} booked={ledger_captures}"
        if order.status == "fulfilled" and still_kept < order.total:
            found.other[order_id] = "fulfilled but not (fully) paid: " + evidence
        delivered, made = bundles[order_id], esims_of[order_id]
        revenue = tx_kinds[("order.fulfilled", order_id)]
        if delivered > 1 or len(made) > 1 or quota_steps[order_id] > 1 or revenue > 1:
            found.double_provisioned[order_id] = (
                f"{evidence} bundles={delivered} esims={len(made)} quota_added={quota_steps[order_id]} "
                f"revenue_postings={revenue}"
            )
        if order.status == "fulfilled" and (delivered != 1 or revenue != 1):
            found.other[order_id] = (
                f"fulfilled with {delivered} bundles, {revenue} revenue postings: {evidence}"
            )
        if order.status == "fulfilled" and order.kind == "new_esim" and not any(e.iccid for e in made):
            found.other[order_id] = "new eSIM fulfilled without a profile: " + evidence
        if order.status != "fulfilled" and (delivered or revenue):
            found.other[order_id] = f"quota or revenue on an order that is {order.status}: {evidence}"

    # Wallet top-ups: money taken is in the wallet, or given back.
    for payment in payments:
        if not payment.topup_id:
            continue
        was_taken, keeps = kept(payment)
        topup = topups.get(payment.topup_id)
        evidence = f"top-up {payment.topup_id} status={topup.status if topup else None} payment={payment.id}"
        if was_taken and keeps and (topup is None or topup.status != "completed" or not captured(payment)):
            found.lost[payment.topup_id] = evidence
        if captured(payment) > 1:
            found.double_charged[payment.topup_id] = f"{evidence} booked {captured(payment)} times"

    # The provider never refunds one payment twice, nor more than it took.
    for intent_id, count in provider_refunds.items():
        intent = intents[intent_id]
        if count > 1 or intent.amount_refunded > intent.amount:
            found.other[intent_id] = (
                f"refunded {count} times at the provider ({intent.amount_refunded} of {intent.amount})"
            )

    # SM-DP+: every profile it allocated belongs to exactly one eSIM row; none to nobody.
    iccids = Counter(e.iccid for e in esims if e.iccid)
    for profile in profiles:
        if profile.iccid not in iccids:
            found.double_provisioned[f"profile:{profile.iccid}"] = (
                f"SM-DP+ profile {profile.iccid} ({profile.state}) allocated for no eSIM of ours"
            )
    live = {e.iccid for e in esims if e.iccid and e.status != "terminated"}
    held = [p.iccid for p in profiles if p.iccid in iccids and p.iccid not in live and p.state != "available"]
    if held:
        found.warnings.append(f"{len(held)} profiles of terminated eSIMs not handed back: {held[:5]}")

    # The ledger: each posting and the whole book balance, and the books agree with the world.
    per_tx: dict[tuple[str, str], int] = defaultdict(int)
    trial: dict[str, int] = defaultdict(int)
    accounts: dict[str, int] = defaultdict(int)
    for entry in entries:
        per_tx[(entry.tx, entry.currency)] += entry.amount
        trial[entry.currency] += entry.amount
        accounts[entry.code] += entry.amount
    for (tx, currency), total in per_tx.items():
        if total:
            found.unbalanced[tx] = f"posting {tx} sums to {total} {currency}"
    for currency, total in trial.items():
        if total:
            found.unbalanced[f"trial:{currency}"] = f"trial balance {total} {currency}"
    for code, amount in accounts.items():
        if code.startswith("wallet:") and amount > 0:
            found.other[code] = f"wallet {code} is negative: {-amount}"
    provider_net = sum(i.amount - i.amount_refunded for i in intents.values() if i.status == "succeeded")
    if accounts["clearing:card"] != provider_net:
        found.other["clearing:card"] = (
            f"clearing:card {accounts['clearing:card']} != provider's net captured {provider_net}"
        )
    sold = sum(o.total for o in orders.values() if o.status == "fulfilled")
    # Revenue is booked at list price with promotions' discounts beside it (contra-revenue):
    # together they are what the customers paid for what was delivered.
    net_revenue = -accounts["revenue:sales"] - accounts["discounts:promotions"]
    if net_revenue != sold:
        found.other["revenue:sales"] = (
            f"revenue:sales less discounts {net_revenue} != fulfilled orders' {sold}"
        )
    if accounts["unearned:orders"] and all(o.status in FINAL for o in orders.values()):
        found.other["unearned:orders"] = (
            f"unearned:orders holds {-accounts['unearned:orders']} when all settled"
        )

    statuses = Counter(orders[o].status for o in bench_orders if o in orders)
    reached: dict[tuple[str, str], datetime] = {}
    for event in events:
        reached.setdefault((event.order_id, event.status), event.at)
    fulfilling = sorted(
        (reached[(o, "fulfilled")] - reached[(o, "paid")]).total_seconds()
        for o in bench_orders
        if (o, "fulfilled") in reached and (o, "paid") in reached
    )
    expiry_lag = sorted(
        (reached[(o, "expired")] - expires_at[o]).total_seconds()
        for o in bench_orders
        if (o, "expired") in reached
    )
    paid_late = sum(
        1 for o in bench_orders if (o, "paid") in reached and reached[(o, "paid")] > expires_at[o]
    )
    succeeded = sum(i.status == "succeeded" for i in intents.values())
    wallets = -sum(v for k, v in accounts.items() if k.startswith("wallet:"))
    found.context += [
        "final status of the bench's orders: " + " ".join(f"{k}={v}" for k, v in sorted(statuses.items())),
        f"database: {len(orders)} orders in all, {len(payments)} payments, {len(intents)} card intents "
        f"({succeeded} succeeded, {len(provider_refunds)} refunded), {len(esims)} eSIMs, "
        f"{sum(bundles.values())} bundles, {len(profiles)} SM-DP+ profiles",
        f"ledger: {len(per_tx)} postings; clearing:card={accounts['clearing:card']} "
        f"(provider net {provider_net}) "
        f"revenue={-accounts['revenue:sales']} unearned={-accounts['unearned:orders']} wallets={wallets}",
        "jobs: " + " ".join(f"{r.kind}/{r.status}={r.n}" for r in jobs),
        f"worker lag: paid->fulfilled {_spread(fulfilling)}; expires_at->expired {_spread(expiry_lag)}; "
        f"{paid_late} orders paid after their expiry time, before the expiry job ran",
    ]
    return found


def _spread(seconds: list[float]) -> str:
    if not seconds:
        return "n/a"
    return (
        f"p50 {seconds[len(seconds) // 2]:.1f}s p95 {seconds[int(len(seconds) * 0.95)]:.1f}s "
        f"max {seconds[-1]:.1f}s (n={len(seconds)})"
    )


# --- the run -----------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> int:
    tally = Tally()
    started = time.monotonic()
    with database(args.engine) as url:
        cluster = Cluster(url, workers=args.workers)
        engine = sa.create_engine(url, pool_size=4, max_overflow=4)
        scheduler = Scheduler(threads=4, tally=tally)
        clients: list[httpx.Client] = []
        chaos: Chaos | None = None
        try:
            log(f"starting 2 servers and {args.workers} worker(s) on {args.engine}")
            urls = cluster.start()
            clients = [
                httpx.Client(
                    base_url=u, timeout=60, limits=httpx.Limits(max_connections=args.concurrency * 4)
                )
                for u in urls
            ]
            notifications = Notifications(clients, cluster.secrets(), engine, scheduler, tally)
            run_deadline = time.monotonic() + args.max_seconds
            traffic = Traffic(clients, notifications, scheduler, tally, run_deadline)
            traffic.load_packages(sign_in(clients))

            customers = args.customers or max(4, args.concurrency * 2)
            log(f"signing in {customers} customers (eSIM, payment PIN, HK$1,000 in the wallet each)")
            with ThreadPoolExecutor(args.concurrency) as pool:
                shoppers = list(pool.map(traffic.new_shopper, range(customers)))
            setup_orders = set(traffic.order_ids)
            traffic.order_ids.clear()
            scheduler.drain(time.monotonic() + 30)
            setup_seconds = time.monotonic() - started

            chaos = Chaos(cluster, clients[0], tally, args.seed, run_deadline + 60)
            chaos.start()
            log(f"{args.orders} orders, {args.concurrency} at a time, with chaos")
            traffic_started = time.monotonic()
            errors: Counter[str] = Counter()

            def one(index: int) -> None:
                try:
                    traffic.one_order(shoppers, index, args.seed)
                except Exception as error:
                    errors[type(error).__name__] += 1
                    tally.sample("orders:bench_errors", f"{type(error).__name__}: {error}")

            with ThreadPoolExecutor(args.concurrency) as pool:
                for done, _ in enumerate(pool.map(one, range(args.orders)), 1):
                    if done % 100 == 0:
                        log(f"{done} orders placed ({tally.get('chaos:worker_kills')} kills so far)")
            left = scheduler.drain(run_deadline + 60)
            traffic_seconds = time.monotonic() - traffic_started

            chaos.stop()
            clients[0].put("/sandbox/smdp/faults", json={}).raise_for_status()
            replaced = cluster.ensure_workers()
            log(f"chaos stopped ({replaced} dead worker(s) replaced); waiting for every order to settle")
            settle_started = time.monotonic()
            settle_deadline = settle_started + args.settle_seconds
            state = unsettled(engine)
            while state != (0, 0) and time.monotonic() < settle_deadline:
                time.sleep(0.5)
                if cluster.ensure_workers():
                    tally.add("chaos:workers_found_dead_while_settling")
                state = unsettled(engine)
            settle_seconds = time.monotonic() - settle_started
        finally:
            if chaos is not None:
                chaos.stop()
            scheduler.close()
            for client in clients:
                client.close()
            logs = [p.log_path for p in cluster.deployment.processes]
            cluster.deployment.stop()

        findings = check_books(engine, set(traffic.order_ids))
        engine.dispose()

    elapsed = time.monotonic() - started
    not_final = state[0]
    if not_final:
        findings.other["settling"] = (
            f"{not_final} orders not final after {args.settle_seconds:.0f}s of settling"
        )
    if state[1]:
        findings.warnings.append(f"{state[1]} jobs due or running when the settling deadline passed")
    if left:
        findings.other["scheduler"] = f"{left} scheduled deliveries or payments never ran"
    kills = tally.get("chaos:worker_kills")
    faults = tally.prefixed("fault:")
    redelivered = tally.prefixed("redelivered:")
    print(
        f"duration: {elapsed:.1f}s (setup {setup_seconds:.1f}s for {len(shoppers)} customers and "
        f"{len(setup_orders)} setup orders; traffic {traffic_seconds:.1f}s; settling {settle_seconds:.1f}s) "
        f"on {args.engine}, seed {args.seed}"
    )
    print(
        f"chaos: {kills} worker SIGKILLs, {sum(faults.values())} SM-DP+ fault switches "
        + " ".join(f"{k}={v}" for k, v in faults.items())
    )
    print("notifications re-delivered by the bench: " + " ".join(f"{k}={v}" for k, v in redelivered.items()))
    print("flows: " + " ".join(f"{k}={v}" for k, v in tally.prefixed("flow:").items()))
    print(
        "answers: "
        + " ".join(
            f"{k}={v}"
            for k, v in sorted(tally.counts.items())
            if k.startswith(("wallet:", "cashier:", "wallet_topups:", "orders:", "http:"))
        )
    )
    for line in findings.context:
        print(line)
    for key, samples in sorted(tally.samples.items()):
        for sample in samples:
            print(f"sample {key}: {sample}")
    for label, items in (
        ("LOST", findings.lost),
        ("DOUBLE CHARGED", findings.double_charged),
        ("DOUBLE PROVISIONED", findings.double_provisioned),
        ("UNBALANCED", findings.unbalanced),
        ("PROBLEM", findings.other),
    ):
        for item in list(items.values())[:20]:
            print(f"{label}: {item}")
    for warning in findings.warnings:
        print(f"warning: {warning}")
    if not findings.ok:
        print("server logs: " + " ".join(str(p) for p in logs[:2]) + f" (+{len(logs) - 2} worker logs)")
    print(
        f"orders={findings.orders} lost={len(findings.lost)} double_charged={len(findings.double_charged)} "
        f"double_provisioned={len(findings.double_provisioned)} "
        f"ledger={'UNBALANCED' if findings.unbalanced else 'balanced'}"
    )
    if findings.ok:  # every killed worker left a log: keep them only when there is something to read
        for path in logs:
            path.unlink(missing_ok=True)
    return 0 if findings.ok else 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--engine", choices=("postgresql", "sqlite"), default="postgresql")
    parser.add_argument("--customers", type=int, default=0, help="default: twice the concurrency")
    parser.add_argument("--workers", type=int, default=1, help="workers running at once (each may be killed)")
    parser.add_argument("--seed", type=int, default=int(time.time()) % 100_000)
    parser.add_argument("--max-seconds", type=float, default=1800, help="deadline for placing the orders")
    parser.add_argument("--settle-seconds", type=float, default=300, help="deadline for orders to settle")
    args = parser.parse_args()
    sys.exit(run(args))


if __name__ == "__main__":
    main()

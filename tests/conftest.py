"""Fixtures shared by the whole suite.

Every database test runs twice, on SQLite and on PostgreSQL. Each run gets
its own SQLite file and its own PostgreSQL schema (migrated with Alembic, so
migrations are tested on both engines) and removes them at the end.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from crossbay.clock import FrozenClock, ShiftedClock
from crossbay.db import make_engine
from crossbay.jobs.kinds import JOB_KINDS
from crossbay.jobs.worker import Worker
from crossbay.migrate import upgrade
from crossbay.runtime import Runtime
from crossbay.settings import Settings
from tests.support import sensitive
from tests.support.journey import Customer, register_identity, sign_in
from tests.support.keys import secret_values
from tests.support.servers import postgres_url
from tests.support.threaded_server import serve_in_thread

ENGINES = ["sqlite", "postgresql"]
RUN_DIR_VAR = "CROSSBAY_TEST_RUN_DIR"


def test_settings(database_url: str, **overrides: object) -> Settings:
    values: dict[str, object] = dict(
        **secret_values(),
        database_url=database_url,
        sandbox=True,
        secure_cookies=False,
        sandbox_webhook_repeats=2,
        sandbox_webhook_repeat_delay_seconds=0.05,
        job_backoff_seconds=0.01,
        job_backoff_max_seconds=0.05,
        worker_poll_seconds=0.05,
    )
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


# --- the log check: no personal data or secret in any log line of the run ---------------------------


def pytest_configure(config: pytest.Config) -> None:
    if not hasattr(config, "workerinput"):
        run_dir = Path("var/test-logs") / time.strftime("run-%Y%m%d-%H%M%S")
        run_dir.mkdir(parents=True, exist_ok=True)
        os.environ[RUN_DIR_VAR] = str(run_dir.resolve())
    sensitive.start_capture(Path(os.environ[RUN_DIR_VAR]))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    sensitive.stop_capture()
    if hasattr(session.config, "workerinput"):
        return
    leaks = sensitive.find_leaks(Path(os.environ[RUN_DIR_VAR]))
    if leaks:
        print("\nPERSONAL DATA OR SECRETS FOUND IN LOGS:")
        for leak in leaks[:20]:
            print("  ", leak)
        session.exitstatus = 1


# --- databases -----------------------------------------------------------------------------------------


@pytest.fixture(scope="session", params=ENGINES)
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('db')}/test.db"
        upgrade(url)
        yield url
        return
    base = postgres_url()
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(base)
    with admin.begin() as connection:
        connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    url = f"{base}{'&' if '?' in base else '?'}options=-csearch_path%3D{schema}"
    try:
        upgrade(url)
        yield url
    finally:
        with admin.begin() as connection:
            connection.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        admin.dispose()


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[sa.Engine]:
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def session(engine: sa.Engine) -> Iterator[Session]:
    """A session whose transactions are savepoints inside one outer transaction, rolled back at the end."""
    with engine.connect() as connection:
        outer = connection.begin()
        session = Session(
            bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False, autobegin=False
        )
        try:
            yield session
        finally:
            session.close()
            outer.rollback()


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


def _wipe(engine: sa.Engine) -> None:
    from crossbay.models import Base

    with engine.begin() as connection:
        for table in reversed(Base.metadata.sorted_tables):
            if table.info.get("append_only") and connection.dialect.name == "postgresql":
                # A trigger refuses row deletes on append-only tables; TRUNCATE is the deliberate way.
                connection.exec_driver_sql(f'TRUNCATE "{table.name}"')
            else:
                connection.execute(table.delete())


@pytest.fixture
def committed(engine: sa.Engine) -> Iterator[sa.Engine]:
    """For tests that need real commits (concurrency, processes): tables are emptied afterwards."""
    yield engine
    _wipe(engine)


# --- a live server in this process, for HTTP tests ----------------------------------------------------


class LiveServer:
    """The app served by uvicorn in a thread, with a worker thread beside it, as `crossbay demo` runs."""

    def __init__(self, runtime: Runtime, url: str) -> None:
        self.runtime = runtime
        self.url = url

    def run_jobs(self) -> None:
        """Run what is due now, without waiting for the background worker's next round."""
        Worker(self.runtime, JOB_KINDS, worker_id="test-helper").run_until_idle()


@pytest.fixture(scope="session")
def live_server(database_url: str, engine: sa.Engine) -> Iterator[LiveServer]:
    from crossbay.app import create_app

    runtime = Runtime(settings=test_settings(database_url), engine=engine, clock=ShiftedClock())
    with serve_in_thread(create_app(runtime)) as url:
        # Partners call back to the app's own URL, known only once the port is bound.
        runtime.settings = runtime.settings.model_copy(update={"base_url": url})
        yield LiveServer(runtime, url)


@pytest.fixture
def server(live_server: LiveServer, committed: sa.Engine) -> Iterator[LiveServer]:
    """The live server and its worker, on an empty database that is emptied again after the test.

    The worker runs only during such a test, so it never takes jobs that other tests enqueue.
    """
    worker = Worker(live_server.runtime, JOB_KINDS, worker_id="test-worker")
    thread = threading.Thread(target=worker.run_forever, daemon=True)
    thread.start()
    yield live_server
    worker.stop()
    thread.join(10)
    assert isinstance(live_server.runtime.clock, ShiftedClock)
    live_server.runtime.clock.offset = timedelta(0)


@pytest.fixture
def http(server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=60) as client:
        yield client


@pytest.fixture
def seeded(server: LiveServer) -> None:
    from crossbay.cli import seed_catalog

    seed_catalog(server.runtime.settings, only_if_empty=True)


@pytest.fixture
def customer(seeded: None, http: httpx.Client) -> Customer:
    """A signed-in customer with a verified identity, on a server with the demo catalog."""
    customer = sign_in([http])
    register_identity(customer)
    return customer


def problem(response: object) -> dict[str, object]:
    """The problem+json body of a refused request, checked for its shape."""
    assert isinstance(response, httpx.Response)
    assert response.headers["content-type"].startswith("application/problem+json"), response.text
    body: dict[str, object] = json.loads(response.text)
    assert {"type", "title", "status", "detail", "code"} <= body.keys()
    assert body["status"] == response.status_code
    return body


logging.getLogger("crossbay").setLevel(logging.INFO)

"""The ``crossbay`` command: serve, worker, demo, db upgrade, seed."""

from __future__ import annotations

import logging
import os
import threading
from typing import Annotated

import typer
import uvicorn

from crossbay.admin.cli import staff_app
from crossbay.commands import start_runtime, start_settings, use_case
from crossbay.esim.cli import esims_app
from crossbay.logs import configure_logging
from crossbay.promotions.cli import promotions_app
from crossbay.settings import Settings
from crossbay.support.cli import tickets_app
from crossbay.usage.cli import usage_app

app = typer.Typer(
    help="crossbay: cross-border eSIM data service.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
app.add_typer(db_app, name="db")
ledger_app = typer.Typer(help="The double-entry ledger.", no_args_is_help=True)
app.add_typer(ledger_app, name="ledger")
orders_app = typer.Typer(help="Orders, for staff.", no_args_is_help=True)
app.add_typer(orders_app, name="orders")
app.add_typer(staff_app, name="staff")
app.add_typer(esims_app, name="esims")
app.add_typer(usage_app, name="usage")
app.add_typer(tickets_app, name="tickets")
app.add_typer(promotions_app, name="promotions")
log = logging.getLogger("crossbay.cli")

Host = Annotated[str, typer.Option(help="Interface to listen on.")]
Port = Annotated[int, typer.Option(help="TCP port.")]


def _base_url_for(host: str, port: int) -> dict[str, object]:
    """Unless CROSSBAY_BASE_URL says otherwise, partners call back to where we listen."""
    if os.environ.get("CROSSBAY_BASE_URL"):
        return {}
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host  # noqa: S104 - mapping, not binding
    return {"base_url": f"http://{shown}:{port}"}


def _serve(settings: Settings, host: str, port: int, *, with_worker: bool) -> None:
    from crossbay.app import create_app
    from crossbay.jobs.kinds import JOB_KINDS
    from crossbay.jobs.worker import Worker
    from crossbay.runtime import build_runtime

    runtime = build_runtime(settings)
    worker = Worker(runtime, JOB_KINDS) if with_worker else None
    thread = threading.Thread(target=worker.run_forever, name="worker", daemon=True) if worker else None
    if thread:
        thread.start()
    try:
        uvicorn.run(
            create_app(runtime),
            host=host,
            port=port,
            access_log=False,
            log_config=None,
            timeout_graceful_shutdown=5,
        )
    finally:
        if worker:
            worker.stop()
        runtime.close()


@app.command()
def serve(host: Host = "127.0.0.1", port: Port = 8000) -> None:
    """Serve the API, pages and partner endpoints (no worker: run `crossbay worker` beside it)."""
    _serve(start_settings(**_base_url_for(host, port)), host, port, with_worker=False)


@app.command()
def worker() -> None:
    """Run the job worker: fulfilment, SMS, expiry, refunds. Run as many as you like."""
    from crossbay.jobs.kinds import JOB_KINDS
    from crossbay.jobs.worker import Worker
    from crossbay.runtime import build_runtime

    runtime = build_runtime(start_settings())
    try:
        Worker(runtime, JOB_KINDS).run_forever()
    finally:
        runtime.close()


@app.command()
def demo(host: Host = "127.0.0.1", port: Port = 8000) -> None:
    """Migrate, load the demo catalog if empty, and serve everything with sandboxes and a worker."""
    settings = start_settings(sandbox=True, secure_cookies=False, **_base_url_for(host, port))
    from crossbay.migrate import upgrade

    upgrade(settings.database_url)
    seed_catalog(settings, only_if_empty=True)
    seed_demo_promotions(settings)
    typer.echo(f"crossbay demo: open http://{host}:{port}/ (sandbox partners, in-process worker)")
    _serve(settings, host, port, with_worker=True)


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument(help="Target revision.")] = "head") -> None:
    """Apply migrations up to REVISION (default: head)."""
    from crossbay.migrate import upgrade

    settings = Settings()  # migrations need only the database URL, not the secrets
    configure_logging(settings.log_level)
    upgrade(settings.database_url, revision)
    typer.echo("database is at " + revision)


@app.command()
def seed() -> None:
    """Load or update the package catalog from the bundled catalog file."""
    settings = Settings()
    configure_logging(settings.log_level)
    created = seed_catalog(settings, only_if_empty=False)
    typer.echo(f"catalog loaded ({created} new packages)")
    typer.echo(f"demo promotions: {seed_demo_promotions(settings)} added")


@ledger_app.command("check")
def ledger_check() -> None:
    """Prove every posting balances, the books balance, and no wallet is overdrawn (exit 1 if not)."""
    from crossbay.db import transaction
    from crossbay.ledger.service import check_ledger
    from crossbay.runtime import build_runtime

    runtime = build_runtime(Settings())
    try:
        with runtime.sessions() as session, transaction(session):
            result = check_ledger(session)
    finally:
        runtime.close()
    typer.echo(f"transactions: {result.transactions}")
    typer.echo(f"unbalanced transactions: {len(result.unbalanced)} {' '.join(result.unbalanced[:20])}")
    typer.echo(f"trial balance: {result.trial_balance or {}}")
    typer.echo(f"overdrawn wallets: {len(result.negative_wallets)}")
    typer.echo(f"entries in another currency than their account: {result.mixed_currency_entries}")
    typer.echo("ledger: balanced" if result.ok else "ledger: NOT BALANCED")
    if not result.ok:
        raise typer.Exit(1)


@orders_app.command("refund")
def orders_refund(
    order_id: Annotated[str, typer.Argument(help="The order to refund (ord_…).")],
    reason: Annotated[str, typer.Option(help="Why: kept with the refund job for the record.")],
) -> None:
    """Refund a delivered or failed order in full; the worker asks the provider (wallet: at once)."""
    from crossbay.orders import service as orders

    runtime = start_runtime()
    try:
        with use_case(runtime) as session:
            order = orders.refund_order(
                session, order_id=order_id, settings=runtime.settings, now=runtime.clock.now(), reason=reason
            )
            status = order.status
    finally:
        runtime.close()
    typer.echo(f"refund of {order_id} queued (order is {status}); the worker completes it")


@app.command()
def reconcile(
    day: Annotated[
        str | None, typer.Option("--date", help="Hong Kong day, YYYY-MM-DD (default: yesterday).")
    ] = None,
    provider: Annotated[
        str | None, typer.Option(help="card, alipay or wechatpay (default: every provider).")
    ] = None,
) -> None:
    """Compare each provider's statement of a day with the ledger; exit 1 if anything differs."""
    from datetime import date, timedelta

    from crossbay.clock import hk_date
    from crossbay.errors import CrossbayError
    from crossbay.payments.reconciliation import NoStatement, reconcile_day, report_lines
    from crossbay.runtime import build_runtime

    runtime = build_runtime(start_settings())
    try:
        try:
            wanted = date.fromisoformat(day) if day else hk_date(runtime.clock.now()) - timedelta(days=1)
        except ValueError:
            typer.echo("crossbay: --date must be YYYY-MM-DD", err=True)
            raise typer.Exit(2) from None
        names = [provider] if provider else sorted(runtime.providers)
        differences = 0
        for name in names:
            try:
                report = reconcile_day(runtime, provider=name, day=wanted)
            except NoStatement:
                if provider:
                    typer.echo(f"crossbay: no statement for provider {name!r}", err=True)
                    raise typer.Exit(2) from None
                continue
            except CrossbayError as error:
                typer.echo(f"crossbay: {name}: {error.code}: {error.detail or ''}", err=True)
                raise typer.Exit(2) from None
            for line in report_lines(report):
                typer.echo(line)
            differences += len(report.differences)
    finally:
        runtime.close()
    if differences:
        raise typer.Exit(1)


def seed_catalog(settings: Settings, *, only_if_empty: bool) -> int:
    from sqlalchemy import func, select

    from crossbay.catalog.catalog_file import load_catalog
    from crossbay.catalog.models import Package
    from crossbay.catalog.service import load_packages
    from crossbay.clock import SystemClock
    from crossbay.db import make_engine, make_session_factory, transaction

    engine = make_engine(settings.database_url)
    try:
        with make_session_factory(engine)() as session, transaction(session):
            if only_if_empty and session.scalar(select(func.count()).select_from(Package)):
                return 0
            return load_packages(session, load_catalog(), now=SystemClock().now())
    finally:
        engine.dispose()


def seed_demo_promotions(settings: Settings) -> int:
    """The demo's threshold tiers and coupons (WELCOME10, TRAVEL15), once; not part of seed_catalog,
    so tests that load the catalog price packages without promotions."""
    from crossbay.clock import SystemClock
    from crossbay.db import make_engine, make_session_factory, transaction
    from crossbay.promotions.demo import seed_promotions

    engine = make_engine(settings.database_url)
    try:
        with make_session_factory(engine)() as session, transaction(session):
            return seed_promotions(session, now=SystemClock().now())
    finally:
        engine.dispose()


def main() -> None:
    app()

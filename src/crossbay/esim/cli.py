"""``crossbay esims suspend|resume|terminate ID --reason``: staff actions until the back office has buttons.

The back office calls the same use cases in crossbay.esim.lifecycle.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated

import typer
from sqlalchemy.orm import Session

from crossbay.esim import lifecycle
from crossbay.esim.models import Esim
from crossbay.settings import Settings

esims_app = typer.Typer(help="eSIMs, for staff: suspend, resume, terminate.", no_args_is_help=True)

EsimId = Annotated[str, typer.Argument(help="The eSIM (esim_…).")]
Reason = Annotated[str, typer.Option(help="Why: kept on the eSIM's timeline for staff.", min=1)]

Action = Callable[[Session, str, str, Settings, datetime], Esim]


def _run(esim_id: str, reason: str, action: Action, done: str) -> None:
    from crossbay.db import transaction
    from crossbay.errors import CrossbayError
    from crossbay.logs import configure_logging
    from crossbay.runtime import build_runtime
    from crossbay.settings import SettingsError, load_settings

    if not reason.strip():
        typer.echo("crossbay: --reason must say why", err=True)
        raise typer.Exit(2)
    try:
        settings = load_settings()
    except SettingsError as error:
        typer.echo(f"crossbay: cannot start: {error}", err=True)
        raise typer.Exit(2) from None
    configure_logging(settings.log_level)
    runtime = build_runtime(settings)
    try:
        with runtime.sessions() as session, transaction(session):
            esim = action(session, esim_id, reason.strip(), settings, runtime.clock.now())
            status = esim.status
    except CrossbayError as error:
        typer.echo(f"crossbay: {error.code}: {error.detail or ''}", err=True)
        raise typer.Exit(1) from None
    finally:
        runtime.close()
    typer.echo(f"{esim_id} {done} (now {status})")


@esims_app.command("suspend")
def suspend(esim_id: EsimId, reason: Reason) -> None:
    """Stop a live eSIM for now; it keeps its bundles and its place in the real-name quota."""
    _run(
        esim_id,
        reason,
        lambda s, i, r, _settings, now: lifecycle.suspend_esim(s, esim_id=i, reason=r, now=now),
        "suspended",
    )


@esims_app.command("resume")
def resume(esim_id: EsimId, reason: Reason) -> None:
    """Give a suspended eSIM back the status its device and network history say it has."""
    _run(
        esim_id,
        reason,
        lambda s, i, r, _settings, now: lifecycle.resume_esim(s, esim_id=i, reason=r, now=now),
        "resumed",
    )


@esims_app.command("terminate")
def terminate(esim_id: EsimId, reason: Reason) -> None:
    """Close an eSIM for good (frees a real-name quota place); the worker tells the SM-DP+."""
    _run(
        esim_id,
        reason,
        lambda s, i, r, settings, now: lifecycle.terminate_esim(
            s, esim_id=i, reason=r, settings=settings, now=now
        ),
        "terminated",
    )

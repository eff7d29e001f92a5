"""``crossbay esims suspend|resume|terminate ID --reason``: staff actions until the back office has buttons;
``crossbay esims stock`` shows profile stock per SM-DP+ and ``crossbay esims stock load FILE`` adds a batch.

The back office calls the same use cases in crossbay.esim.lifecycle.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from sqlalchemy.orm import Session

from crossbay.commands import start_runtime, use_case
from crossbay.esim import lifecycle
from crossbay.esim.models import Esim
from crossbay.settings import Settings

if TYPE_CHECKING:
    pass

esims_app = typer.Typer(
    help="eSIMs, for staff: suspend, resume, terminate; profile stock.", no_args_is_help=True
)
stock_app = typer.Typer(help="Profile stock per SM-DP+: show it, or load a batch of ICCIDs.")
esims_app.add_typer(stock_app, name="stock")

EsimId = Annotated[str, typer.Argument(help="The eSIM (esim_…).")]
Reason = Annotated[str, typer.Option(help="Why: kept on the eSIM's timeline for staff.", min=1)]

Action = Callable[[Session, str, str, Settings, datetime], Esim]


def _run(esim_id: str, reason: str, action: Action, done: str) -> None:
    if not reason.strip():
        typer.echo("crossbay: --reason must say why", err=True)
        raise typer.Exit(2)
    runtime = start_runtime()
    try:
        with use_case(runtime) as session:
            esim = action(session, esim_id, reason.strip(), runtime.settings, runtime.clock.now())
            status = esim.status
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


@stock_app.callback(invoke_without_command=True)
def stock(ctx: typer.Context) -> None:
    """Profiles per SM-DP+: loaded, allocated to eSIMs, available, and unlisted (allocated by the SM-DP+
    without being loaded here). LOW marks stock at or below CROSSBAY_PROFILE_STOCK_LOW_THRESHOLD."""
    if ctx.invoked_subcommand is not None:
        return
    from crossbay.esim import inventory

    runtime = start_runtime()
    try:
        with use_case(runtime) as session:
            levels = inventory.stock_levels(session, threshold=runtime.settings.profile_stock_low_threshold)
    finally:
        runtime.close()
    if not levels:
        typer.echo("no profile stock loaded (crossbay esims stock load FILE)")
        return
    typer.echo("smdp\tloaded\tallocated\tavailable\tunlisted\tlow")
    for level in levels:
        low = "LOW" if level.loaded and level.low else "-"
        typer.echo(
            f"{level.smdp}\t{level.loaded}\t{level.allocated}\t{level.available}\t{level.unlisted}\t{low}"
        )


@stock_app.command("load")
def load_stock(
    iccid_file: Annotated[
        Path, typer.Argument(help="One ICCID a line, as the vendor sent them (# comments allowed).")
    ],
    smdp: Annotated[
        str | None, typer.Option(help="The SM-DP+ (its ES2+ host); default: the one configured.")
    ] = None,
    label: Annotated[
        str | None, typer.Option(help="The vendor's batch reference; default: the file name.")
    ] = None,
) -> None:
    """Add a batch of profiles bought from the SM-DP+ vendor. Every line must be a Luhn-valid ICCID, else
    nothing is loaded; ICCIDs already held are skipped."""
    from crossbay.esim import inventory

    try:
        lines = iccid_file.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        typer.echo(f"crossbay: cannot read {iccid_file}: {error}", err=True)
        raise typer.Exit(2) from None
    runtime = start_runtime()
    try:
        with use_case(runtime) as session:
            loaded = inventory.load_batch(
                session,
                smdp=smdp or inventory.smdp_of(runtime.settings),
                iccids=inventory.parse_iccids(lines),  # a bad list is refused like any use case
                label=label or iccid_file.name,
                now=runtime.clock.now(),
            )
            available = inventory.available_profiles(session, smdp=loaded.smdp)
    finally:
        runtime.close()
    typer.echo(
        f"{loaded.batch_id}: {loaded.added} profiles added to {loaded.smdp}"
        f" ({loaded.already_held} already held); {available} available"
    )

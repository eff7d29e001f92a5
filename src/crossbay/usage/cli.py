"""``crossbay usage import FILE``: load the network's usage records from CSV or JSONL."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

usage_app = typer.Typer(help="Usage records and rating.", no_args_is_help=True)


@usage_app.command("import")
def import_records(
    file: Annotated[Path, typer.Argument(help="CSV (with a header) or JSONL (.jsonl) of usage records.")],
    batch_size: Annotated[
        int | None, typer.Option(help="Records per transaction (default: 50,000).", min=1, max=100_000)
    ] = None,
    streams: Annotated[
        int | None,
        typer.Option(
            help="Connections rating at once, each eSIM always on the same one (default: 2 on PostgreSQL,"
            " 1 on SQLite, whose writers take turns).",
            min=1,
            max=8,
        ),
    ] = None,
) -> None:
    """Rate every record of FILE once (a record id already applied changes nothing); safe to re-run."""
    from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn, TransferSpeedColumn

    from crossbay.db import is_postgresql
    from crossbay.logs import configure_logging
    from crossbay.runtime import build_runtime
    from crossbay.settings import Settings
    from crossbay.usage.importer import IMPORT_BATCH, IMPORT_STREAMS, import_file

    if not file.is_file():
        typer.echo(f"crossbay: no such file: {file}", err=True)
        raise typer.Exit(2)
    settings = Settings()  # the database is all an import needs
    configure_logging(settings.log_level)
    runtime = build_runtime(settings)
    try:
        with Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
        ) as bar:
            task = bar.add_task(f"rating {file.name}", total=file.stat().st_size)
            report = import_file(
                file,
                runtime.sessions,
                clock=runtime.clock,
                batch_size=batch_size or IMPORT_BATCH,
                streams=streams or (IMPORT_STREAMS if is_postgresql(runtime.engine) else 1),
                progress=lambda done: bar.update(task, completed=done),
            )
    finally:
        runtime.close()
    typer.echo(f"records: {report.records}")
    for result, count in sorted(report.results.items()):
        typer.echo(f"  {result}: {count}")
    if report.rejected:
        typer.echo(f"rejected lines: {report.rejected} (see {file.name}.rejected)")

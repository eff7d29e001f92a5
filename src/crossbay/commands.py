"""What every `crossbay` command shares: starting up, and one use case per transaction.

Kept apart from ``crossbay.cli`` so the contexts' own command groups (staff, eSIMs, …),
which ``crossbay.cli`` mounts, can use it without importing their parent.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import typer

from crossbay.logs import configure_logging
from crossbay.settings import Settings, SettingsError, load_settings

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from crossbay.runtime import Runtime


def start_settings(**overrides: object) -> Settings:
    """Settings from the environment, or a clear "cannot start" and exit 2."""
    try:
        settings = load_settings(**overrides)
    except SettingsError as error:
        typer.echo(f"crossbay: cannot start: {error}", err=True)
        raise typer.Exit(2) from None
    configure_logging(settings.log_level)
    return settings


def start_runtime() -> Runtime:
    from crossbay.runtime import build_runtime  # the app's whole graph: only for commands that need it

    return build_runtime(start_settings())


@contextmanager
def use_case(runtime: Runtime) -> Iterator[Session]:
    """One command's transaction; a refusal is printed as its code and the command exits 1."""
    from crossbay.db import transaction
    from crossbay.errors import CrossbayError

    try:
        with runtime.sessions() as session, transaction(session):
            yield session
    except CrossbayError as error:
        problem = error.errors[0].message if error.errors else error.detail or ""
        typer.echo(f"crossbay: {error.code}: {problem}", err=True)
        raise typer.Exit(1) from None

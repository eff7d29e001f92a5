"""``crossbay staff add EMAIL --role R`` and ``crossbay staff disable EMAIL``.

The password comes from ``CROSSBAY_STAFF_PASSWORD``, from standard input when it is not a
terminal, or from a hidden prompt; it is never echoed, printed or logged. The TOTP secret is
shown once, as a provisioning URI and a QR code (in the terminal, or as an SVG file).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from crossbay.admin.permissions import Role
from crossbay.commands import start_runtime, use_case

staff_app = typer.Typer(help="Back-office staff accounts.", no_args_is_help=True)

PASSWORD_ENV = "CROSSBAY_STAFF_PASSWORD"  # noqa: S105 - the variable's name, not a password


def _password() -> str:
    from_env = os.environ.get(PASSWORD_ENV)
    if from_env:
        return from_env
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    password: str = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    return password


@staff_app.command("add")
def add(
    email: Annotated[str, typer.Argument(help="The staff member's email (their sign-in name).")],
    role: Annotated[Role, typer.Option(help="What they may do (see admin/permissions.py).")],
    qr_svg: Annotated[
        Path | None, typer.Option(help="Write the TOTP QR code to this SVG file instead of the terminal.")
    ] = None,
) -> None:
    """Create a staff account and print its one-time TOTP provisioning URI and QR code."""
    import segno

    from crossbay.admin import staff

    password = _password()
    runtime = start_runtime()
    try:
        with use_case(runtime) as session:
            created = staff.add_staff(
                session,
                email=email,
                role=role.value,
                password=password,
                pii=runtime.pii,
                now=runtime.clock.now(),
            )
            uri, staff_id = created.provisioning_uri, created.staff.id
    finally:
        runtime.close()
    typer.echo(f"staff {staff_id} added with role {role.value}.")
    typer.echo("Scan this into an authenticator app now; it is not shown again:")
    typer.echo(uri)
    qr = segno.make(uri, error="m")
    if qr_svg is not None:
        qr.save(str(qr_svg), kind="svg", scale=6)
        qr_svg.chmod(0o600)  # it holds the secret
        typer.echo(f"QR code written to {qr_svg}")
    else:
        qr.terminal(compact=True)


@staff_app.command("disable")
def disable(email: Annotated[str, typer.Argument(help="The staff member's email.")]) -> None:
    """Stop an account from signing in and end its open sessions."""
    from crossbay.admin import staff

    runtime = start_runtime()
    try:
        with use_case(runtime) as session:
            disabled = staff.disable_staff(session, email=email, now=runtime.clock.now())
            staff_id = disabled.id
    finally:
        runtime.close()
    typer.echo(f"staff {staff_id} disabled; their sessions are closed.")

"""``crossbay tickets list|show|assign|reply|resolve``: support work until the back office has its screen.

Staff are named by a plain identifier (``--staff alice``) until staff accounts back this command; every
action is written to the audit record under that name. The back office calls the same service functions.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Annotated

import typer
from sqlalchemy.orm import Session

from crossbay.support import service as support

tickets_app = typer.Typer(
    help="Support tickets, for staff: list, show, assign, reply, resolve.", no_args_is_help=True
)

TicketId = Annotated[str, typer.Argument(help="The ticket (tkt_…).")]
Staff = Annotated[
    str, typer.Option("--staff", help="Who is acting (a staff identifier, kept in the audit record).")
]


@contextmanager
def _session() -> Iterator[tuple[Session, Callable[[], datetime]]]:
    from crossbay.db import transaction
    from crossbay.errors import CrossbayError
    from crossbay.logs import configure_logging
    from crossbay.runtime import build_runtime
    from crossbay.settings import Settings

    settings = Settings()  # tickets need only the database, not the secrets
    configure_logging(settings.log_level)
    runtime = build_runtime(settings)
    try:
        with runtime.sessions() as session, transaction(session):
            yield session, runtime.clock.now
    except CrossbayError as error:
        problems = "; ".join(f"{p.field}: {p.message}" for p in error.errors)
        typer.echo(f"crossbay: {error.code}: {problems or error.detail or ''}", err=True)
        raise typer.Exit(1) from None
    finally:
        runtime.close()


@tickets_app.command("list")
def list_tickets(
    status: Annotated[str | None, typer.Option(help="open, waiting_for_customer or resolved.")] = None,
    assignee: Annotated[str | None, typer.Option(help="Only this staff member's tickets.")] = None,
    unassigned: Annotated[bool, typer.Option(help="Only tickets nobody has taken up.")] = False,
    origin: Annotated[str | None, typer.Option(help="customer, or late_order (opened by the watch).")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
) -> None:
    """Newest first: id, status, origin, assignee, order, updated, subject."""
    with _session() as (session, _now):
        found = support.list_tickets(
            session, limit=limit, status=status, assignee=assignee, unassigned=unassigned, origin=origin
        )
        for t in found:
            typer.echo(
                "\t".join(
                    [
                        t.id,
                        t.status,
                        t.origin,
                        t.assignee or "-",
                        t.order_id or "-",
                        t.updated_at.isoformat(),
                        t.subject,
                    ]
                )
            )


@tickets_app.command("show")
def show(ticket_id: TicketId) -> None:
    """The ticket and its whole thread."""
    with _session() as (session, _now):
        ticket = support.get_ticket(session, ticket_id)
        typer.echo(f"{ticket.id} [{ticket.status}] {ticket.subject}")
        order, assignee = ticket.order_id or "-", ticket.assignee or "-"
        typer.echo(f"customer {ticket.customer_id} · order {order} · assignee {assignee}")
        for message in support.thread(session, ticket.id):
            author = message.author_kind + (f":{message.author_id}" if message.author_kind == "staff" else "")
            typer.echo(f"--- {message.at.isoformat()} {author}\n{message.body}")


@tickets_app.command("assign")
def assign(
    ticket_id: TicketId,
    staff: Staff,
    to: Annotated[str | None, typer.Option(help="Give it to someone else (default: yourself).")] = None,
) -> None:
    """Take up a ticket, or hand it to someone."""
    with _session() as (session, now):
        ticket = support.assign_ticket(
            session, ticket_id=ticket_id, staff_id=staff, assignee=to or staff, now=now()
        )
        typer.echo(f"{ticket.id} assigned to {ticket.assignee}")


@tickets_app.command("reply")
def reply(
    ticket_id: TicketId,
    staff: Staff,
    body: Annotated[str, typer.Option(help="The answer the customer reads.")],
    resolve: Annotated[bool, typer.Option(help="Resolve the ticket with this answer.")] = False,
) -> None:
    """Answer the customer; the ticket then waits for them (or is resolved with --resolve)."""
    with _session() as (session, now):
        ticket = support.reply_as_staff(
            session, ticket_id=ticket_id, staff_id=staff, body=body, now=now(), resolve=resolve
        )
        typer.echo(f"{ticket.id} answered (now {ticket.status})")


@tickets_app.command("resolve")
def resolve(
    ticket_id: TicketId,
    staff: Staff,
    note: Annotated[
        str | None, typer.Option(help="A last word to the customer (default: a standard one).")
    ] = None,
) -> None:
    """Mark a ticket resolved; the customer can still reply, which opens it again."""
    with _session() as (session, now):
        ticket = support.resolve_ticket(session, ticket_id=ticket_id, staff_id=staff, now=now(), note=note)
        typer.echo(f"{ticket.id} resolved")

"""Tickets: customers open them and reply; staff take them up, answer and resolve; the watch opens its own.

Statuses: ``open`` (support's turn) → ``waiting_for_customer`` (after a staff reply) → ``resolved``.
A customer's reply always hands the turn back to support, reopening a resolved ticket.

Staff are a plain identifier string for now (no staff account model yet); every staff action is audited.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from crossbay.audit import service as audit
from crossbay.clock import hk_day_start
from crossbay.db import new_id
from crossbay.errors import FieldProblem, RateLimited, ValidationFailed
from crossbay.orders import late as late_orders
from crossbay.orders import service as orders
from crossbay.orders.errors import OrderNotFound
from crossbay.paging import Cursor, newest_first
from crossbay.support import wording
from crossbay.support.errors import TicketNotFound
from crossbay.support.models import Ticket, TicketMessage

OPEN, WAITING, RESOLVED = "open", "waiting_for_customer", "resolved"
STATUSES = (OPEN, WAITING, RESOLVED)
FROM_CUSTOMER, LATE_ORDER = "customer", "late_order"
CUSTOMER, STAFF, SYSTEM = "customer", "staff", "system"
DAILY_TICKETS_PER_CUSTOMER = 10
STAFF_ID_MAX = 64


@dataclass(frozen=True)
class SupportSummary:
    """What an order shows about support: the ticket about it and where it stands."""

    ticket_id: str
    status: str
    origin: str


# --- input ------------------------------------------------------------------------------------------


def _clean_text(value: str, *, field: str, limit: int, empty: str, too_long: str, one_line: bool) -> str:
    text = value.replace("\x00", "").replace("\r\n", "\n").strip()
    if one_line:
        text = " ".join(text.split())
    if not text:
        raise ValidationFailed(errors=[FieldProblem(field, "required", empty)])
    if len(text) > limit:
        raise ValidationFailed(errors=[FieldProblem(field, "too_long", too_long)])
    return text


def clean_subject(subject: str) -> str:
    return _clean_text(
        subject,
        field="subject",
        limit=wording.SUBJECT_MAX,
        empty=wording.ENTER_SUBJECT,
        too_long=wording.SUBJECT_TOO_LONG,
        one_line=True,
    )


def clean_body(body: str) -> str:
    return _clean_text(
        body,
        field="body",
        limit=wording.BODY_MAX,
        empty=wording.ENTER_MESSAGE,
        too_long=wording.MESSAGE_TOO_LONG,
        one_line=False,
    )


def _clean_staff_id(staff_id: str) -> str:
    cleaned = staff_id.strip()
    if not cleaned or len(cleaned) > STAFF_ID_MAX:
        raise ValidationFailed(errors=[FieldProblem("staff_id", "invalid", "Give a staff identifier")])
    return cleaned


# --- customers --------------------------------------------------------------------------------------


def open_ticket(
    session: Session, *, customer_id: str, subject: str, body: str, order_id: str | None, now: datetime
) -> Ticket:
    """A customer's question, optionally about one of their orders; ten a (Hong Kong) day at most."""
    subject, body = clean_subject(subject), clean_body(body)
    if order_id is not None:
        try:
            orders.get_owned_order(session, customer_id=customer_id, order_id=order_id)
        except OrderNotFound:
            # Someone else's order and no order look the same.
            raise ValidationFailed(
                errors=[FieldProblem("order_id", "unknown_order", wording.UNKNOWN_ORDER)]
            ) from None
    opened_today = session.scalar(
        select(func.count()).where(
            Ticket.customer_id == customer_id,
            Ticket.origin == FROM_CUSTOMER,
            Ticket.created_at >= hk_day_start(now),
        )
    )
    if (opened_today or 0) >= DAILY_TICKETS_PER_CUSTOMER:
        tomorrow = hk_day_start(now) + timedelta(days=1)
        raise RateLimited(wording.TOO_MANY_TICKETS, retry_after=int((tomorrow - now).total_seconds()) + 1)
    ticket = _new_ticket(
        customer_id=customer_id, order_id=order_id, subject=subject, origin=FROM_CUSTOMER, now=now
    )
    session.add(ticket)
    session.flush()  # the message's foreign key needs the ticket row
    _add_message(session, ticket, author_kind=CUSTOMER, author_id=customer_id, body=body, now=now)
    return ticket


def get_owned_ticket(session: Session, *, customer_id: str, ticket_id: str, lock: bool = False) -> Ticket:
    ticket = session.get(Ticket, ticket_id, with_for_update=lock)
    if ticket is None or ticket.customer_id != customer_id:
        raise TicketNotFound()
    return ticket


def list_customer_tickets(
    session: Session, *, customer_id: str, limit: int, before: Cursor | None
) -> list[Ticket]:
    """Newest first; ``before`` is the (created_at, id) of the last one seen."""
    return list_tickets(session, customer_id=customer_id, limit=limit, before=before)


def reply_as_customer(
    session: Session, *, customer_id: str, ticket_id: str, body: str, now: datetime
) -> Ticket:
    """The customer writes: it is support's turn again, even on a resolved ticket."""
    body = clean_body(body)
    ticket = get_owned_ticket(session, customer_id=customer_id, ticket_id=ticket_id, lock=True)
    _add_message(session, ticket, author_kind=CUSTOMER, author_id=customer_id, body=body, now=now)
    ticket.status, ticket.resolved_at = OPEN, None
    return ticket


def thread(session: Session, ticket_id: str) -> list[TicketMessage]:
    return list(
        session.scalars(
            select(TicketMessage).where(TicketMessage.ticket_id == ticket_id).order_by(TicketMessage.seq)
        )
    )


def support_for_orders(session: Session, order_ids: Iterable[str]) -> dict[str, SupportSummary]:
    """For each order with a ticket: the one to show, an unresolved one before a resolved, newest first."""
    wanted = list(order_ids)
    if not wanted:
        return {}
    found: dict[str, Ticket] = {}
    for ticket in session.scalars(
        select(Ticket).where(Ticket.order_id.in_(wanted)).order_by(Ticket.created_at, Ticket.id)
    ):
        assert ticket.order_id is not None
        current = found.get(ticket.order_id)
        if current is None or ticket.status != RESOLVED or current.status == RESOLVED:
            found[ticket.order_id] = ticket
    return {order_id: SupportSummary(t.id, t.status, t.origin) for order_id, t in found.items()}


# --- staff ------------------------------------------------------------------------------------------


def get_ticket(session: Session, ticket_id: str, *, lock: bool = False) -> Ticket:
    ticket = session.get(Ticket, ticket_id, with_for_update=lock)
    if ticket is None:
        raise TicketNotFound()
    return ticket


def list_tickets(
    session: Session,
    *,
    limit: int,
    before: Cursor | None = None,
    status: str | None = None,
    assignee: str | None = None,
    unassigned: bool = False,
    origin: str | None = None,
    customer_id: str | None = None,
    order_id: str | None = None,
) -> list[Ticket]:
    """Tickets newest first, filtered; for the back office and the CLI (and, by customer, the API)."""
    query = select(Ticket)
    if status is not None:
        query = query.where(Ticket.status == status)
    if assignee is not None:
        query = query.where(Ticket.assignee == assignee)
    if unassigned:
        query = query.where(Ticket.assignee.is_(None))
    if origin is not None:
        query = query.where(Ticket.origin == origin)
    if customer_id is not None:
        query = query.where(Ticket.customer_id == customer_id)
    if order_id is not None:
        query = query.where(Ticket.order_id == order_id)
    return list(
        session.scalars(newest_first(query, Ticket.created_at, Ticket.id, before=before, limit=limit))
    )


def assign_ticket(
    session: Session, *, ticket_id: str, staff_id: str, assignee: str | None, now: datetime
) -> Ticket:
    """``staff_id`` hands the ticket to ``assignee`` (themselves, someone else, or nobody)."""
    staff_id = _clean_staff_id(staff_id)
    new_assignee = _clean_staff_id(assignee) if assignee is not None else None
    ticket = get_ticket(session, ticket_id, lock=True)
    before, ticket.assignee, ticket.updated_at = ticket.assignee, new_assignee, now
    _audit(
        session,
        ticket,
        staff_id,
        audit.TICKET_ASSIGNED,
        now,
        [audit.Change("assignee", before, new_assignee)],
    )
    return ticket


def reply_as_staff(
    session: Session, *, ticket_id: str, staff_id: str, body: str, now: datetime, resolve: bool = False
) -> Ticket:
    """A staff answer: the customer's turn next (or resolved at once); an unassigned ticket becomes theirs."""
    staff_id, body = _clean_staff_id(staff_id), clean_body(body)
    ticket = get_ticket(session, ticket_id, lock=True)
    if ticket.assignee is None:
        ticket.assignee = staff_id
    _add_message(session, ticket, author_kind=STAFF, author_id=staff_id, body=body, now=now)
    _audit(session, ticket, staff_id, audit.TICKET_REPLIED, now, [])
    _move(session, ticket, RESOLVED if resolve else WAITING, staff_id=staff_id, now=now)
    return ticket


def set_ticket_status(
    session: Session, *, ticket_id: str, staff_id: str, status: str, now: datetime, note: str | None = None
) -> Ticket:
    """Move a ticket by hand; resolving without a note leaves the customer a standard one."""
    staff_id = _clean_staff_id(staff_id)
    if status not in STATUSES:
        raise ValidationFailed(errors=[FieldProblem("status", "invalid_choice", "Choose a ticket status")])
    ticket = get_ticket(session, ticket_id, lock=True)
    if note is not None:
        _add_message(session, ticket, author_kind=STAFF, author_id=staff_id, body=clean_body(note), now=now)
    elif status == RESOLVED and ticket.status != RESOLVED:
        _add_message(
            session, ticket, author_kind=SYSTEM, author_id=None, body=wording.RESOLVED_BY_STAFF, now=now
        )
    _move(session, ticket, status, staff_id=staff_id, now=now)
    return ticket


def resolve_ticket(
    session: Session, *, ticket_id: str, staff_id: str, now: datetime, note: str | None = None
) -> Ticket:
    return set_ticket_status(
        session, ticket_id=ticket_id, staff_id=staff_id, status=RESOLVED, now=now, note=note
    )


# --- the late-order watch ---------------------------------------------------------------------------


def late_order_key(order_id: str) -> str:
    return f"late_order:{order_id}"


def tickets_already_opened(session: Session, order_ids: Iterable[str]) -> set[str]:
    keys = {late_order_key(order_id): order_id for order_id in order_ids}
    if not keys:
        return set()
    found = session.scalars(select(Ticket.watch_key).where(Ticket.watch_key.in_(list(keys))))
    return {keys[key] for key in found if key is not None}


def open_late_order_ticket(session: Session, *, order: late_orders.LateOrder, now: datetime) -> Ticket | None:
    """One ticket per late order, ever: the unique watch key makes a second attempt a no-op (None)."""
    ticket = _new_ticket(
        customer_id=order.customer_id,
        order_id=order.order_id,
        subject=wording.LATE_ORDER_SUBJECT,
        origin=LATE_ORDER,
        now=now,
    )
    ticket.watch_key = late_order_key(order.order_id)
    try:
        with session.begin_nested():
            session.add(ticket)
    except IntegrityError:
        return None
    _add_message(session, ticket, author_kind=SYSTEM, author_id=None, body=wording.LATE_ORDER_OPENED, now=now)
    return ticket


def resolve_fulfilled_late_tickets(session: Session, *, now: datetime) -> list[Ticket]:
    """Late-order tickets whose order has since been fulfilled: resolved, with a note to the customer.

    Tickets of orders that failed stay open: the refund is automatic, but a person should look.
    """
    waiting = list(
        session.scalars(
            select(Ticket)
            .where(Ticket.origin == LATE_ORDER, Ticket.status != RESOLVED)
            .order_by(Ticket.created_at)
            .with_for_update()
        )
    )
    done = late_orders.statuses(session, [t.order_id for t in waiting if t.order_id])
    resolved = []
    for ticket in waiting:
        if ticket.order_id is not None and done.get(ticket.order_id) == "fulfilled":
            _add_message(
                session,
                ticket,
                author_kind=SYSTEM,
                author_id=None,
                body=wording.LATE_ORDER_FULFILLED,
                now=now,
            )
            ticket.status, ticket.resolved_at, ticket.updated_at = RESOLVED, now, now
            resolved.append(ticket)
    return resolved


def count_late_order_tickets(session: Session) -> tuple[int, int]:
    """(opened ever, still unresolved): the watch's alert counter and gauge, read at scrape time."""
    total, unresolved = session.execute(
        select(func.count(), func.count().filter(Ticket.status != RESOLVED)).where(
            Ticket.origin == LATE_ORDER
        )
    ).one()
    return int(total or 0), int(unresolved or 0)


# --- helpers ----------------------------------------------------------------------------------------


def _new_ticket(
    *, customer_id: str, order_id: str | None, subject: str, origin: str, now: datetime
) -> Ticket:
    return Ticket(
        id=new_id("tkt"),
        customer_id=customer_id,
        order_id=order_id,
        subject=subject,
        status=OPEN,
        origin=origin,
        created_at=now,
        updated_at=now,
    )


def _add_message(
    session: Session, ticket: Ticket, *, author_kind: str, author_id: str | None, body: str, now: datetime
) -> TicketMessage:
    # Callers hold the ticket's row lock (or just created it), so the next seq is theirs alone.
    last = session.scalar(select(func.max(TicketMessage.seq)).where(TicketMessage.ticket_id == ticket.id))
    message = TicketMessage(
        id=new_id("tmsg"),
        ticket_id=ticket.id,
        seq=(last or 0) + 1,
        author_kind=author_kind,
        author_id=author_id,
        body=body,
        at=now,
    )
    session.add(message)
    ticket.updated_at = now
    return message


def _move(session: Session, ticket: Ticket, status: str, *, staff_id: str, now: datetime) -> None:
    if ticket.status == status:
        return
    before = ticket.status
    ticket.status, ticket.updated_at = status, now
    ticket.resolved_at = now if status == RESOLVED else None
    _audit(
        session, ticket, staff_id, audit.TICKET_STATUS_CHANGED, now, [audit.Change("status", before, status)]
    )


def _audit(
    session: Session, ticket: Ticket, staff_id: str, action: str, now: datetime, changes: list[audit.Change]
) -> None:
    audit.record(
        session,
        action=action,
        actor=audit.Actor.staff(staff_id),
        customer_id=ticket.customer_id,
        now=now,
        target=("ticket", ticket.id),
        changes=changes,
    )

"""Tickets as the customer reads them, in their language (system text is stored as message ids)."""

from __future__ import annotations

from crossbay.i18n import translate
from crossbay.support import service
from crossbay.support.models import Ticket, TicketMessage
from crossbay.support.schemas import MessageRead, SupportRead, TicketRead, TicketSummaryRead
from crossbay.support.wording import SYSTEM_MESSAGES


def shown_text(text: str, language: str) -> str:
    return translate(language, text) if text in SYSTEM_MESSAGES else text


def ticket_summary(ticket: Ticket, language: str) -> TicketSummaryRead:
    return TicketSummaryRead(
        id=ticket.id,
        subject=shown_text(ticket.subject, language)
        if ticket.origin != service.FROM_CUSTOMER
        else ticket.subject,
        status=ticket.status,
        origin=ticket.origin,
        order_id=ticket.order_id,
        created_at=ticket.created_at,
        updated_at=ticket.updated_at,
    )


def message_read(message: TicketMessage, language: str) -> MessageRead:
    body = shown_text(message.body, language) if message.author_kind == service.SYSTEM else message.body
    return MessageRead(id=message.id, at=message.at, author=message.author_kind, body=body)


def ticket_read(ticket: Ticket, messages: list[TicketMessage], language: str) -> TicketRead:
    return TicketRead(
        **ticket_summary(ticket, language).model_dump(),
        messages=[message_read(m, language) for m in messages],
    )


def support_read(summary: service.SupportSummary | None) -> SupportRead | None:
    if summary is None:
        return None
    return SupportRead(
        ticket_id=summary.ticket_id,
        status=summary.status,
        origin=summary.origin,
    )

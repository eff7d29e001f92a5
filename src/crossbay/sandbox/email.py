"""A local SMTP server standing in for the mail relay; it keeps what it would have delivered.

Real SMTP (aiosmtpd) on 127.0.0.1, a free port, started by the first process that sends mail in
sandbox mode without a configured relay. Messages land in the database, so
``GET /sandbox/email/messages`` shows them whichever process (demo, API or worker) sent them.
Addresses and bodies are personal data: this module never logs them.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from datetime import datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope
from aiosmtpd.smtp import Session as SmtpSession
from fastapi import APIRouter, Depends
from sqlalchemy import Index, String, Text, select
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from crossbay.api.deps import RuntimeDep, SessionDep
from crossbay.clock import Clock
from crossbay.db import Base, make_engine, make_session_factory, new_id, transaction
from crossbay.errors import NotFound

log = logging.getLogger("crossbay.sandbox")
# aiosmtpd logs every envelope (sender and recipients) at INFO: personal data, kept out of the logs.
logging.getLogger("mail.log").setLevel(logging.ERROR)
_LIST_LIMIT = 100


class SandboxEmailMessage(Base):
    __tablename__ = "sandbox_email_messages"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    to: Mapped[str] = mapped_column(String(254))
    from_: Mapped[str] = mapped_column("from", String(254))
    subject: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    received_at: Mapped[datetime]

    __table_args__ = (Index("ix_sandbox_email_messages_to_received_at", "to", "received_at"),)


class _Keeper:
    """The aiosmtpd handler: every accepted message becomes one row per recipient."""

    def __init__(self, sessions: sessionmaker[Session], clock: Clock) -> None:
        self._sessions = sessions
        self._clock = clock

    async def handle_DATA(self, server: SMTP, session: SmtpSession, envelope: Envelope) -> str:
        content = envelope.original_content or envelope.content
        raw = content if isinstance(content, bytes) else str(content).encode()
        message = message_from_bytes(raw, policy=policy.default)
        await asyncio.get_running_loop().run_in_executor(None, self._keep, envelope, message)
        return "250 Message accepted for delivery"

    def _keep(self, envelope: Envelope, message: Any) -> None:
        body = message.get_body(preferencelist=("plain",)) if isinstance(message, EmailMessage) else None
        text = body.get_content() if body is not None else ""
        with self._sessions() as session, transaction(session):
            for recipient in envelope.rcpt_tos:
                session.add(
                    SandboxEmailMessage(
                        id=new_id("eml"),
                        to=recipient,
                        from_=envelope.mail_from or "",
                        subject=str(message.get("Subject", "")),
                        body=text,
                        received_at=self._clock.now(),
                    )
                )


class SmtpSink:
    """An SMTP server on its own event loop thread."""

    def __init__(self, database_url: str, clock: Clock) -> None:
        self._engine = make_engine(database_url)
        self._keeper = _Keeper(make_session_factory(self._engine), clock)
        self._ready = threading.Event()
        self._loop = asyncio.new_event_loop()
        self.port = 0
        self._thread = threading.Thread(target=self._run, name="sandbox-smtp", daemon=True)
        self._thread.start()
        if not self._ready.wait(10) or not self.port:
            raise RuntimeError("the sandbox SMTP server did not start")

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(
            self._loop.create_server(
                lambda: SMTP(self._keeper, hostname="sandbox-smtp.crossbay.test"), "127.0.0.1", 0
            )
        )
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        log.info("sandbox SMTP server listening", extra={"port": self.port})
        self._loop.run_forever()

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._engine.dispose()


_sinks: dict[str, SmtpSink] = {}
_sinks_lock = threading.Lock()


def local_sink(database_url: str, clock: Clock) -> SmtpSink:
    """This process's sink for that database, started on first use (one per database, not per call)."""
    with _sinks_lock:
        sink = _sinks.get(database_url)
        if sink is None:
            sink = _sinks[database_url] = SmtpSink(database_url, clock)
        return sink


def _sandbox_only(runtime: RuntimeDep) -> None:
    if not runtime.settings.sandbox:
        raise NotFound()


router = APIRouter(tags=["sandbox"], dependencies=[Depends(_sandbox_only)])


@router.get("/sandbox/email/messages")
def list_messages(session: SessionDep, to: str | None = None) -> dict[str, list[dict[str, str]]]:
    """What the mail relay would have delivered, newest first (to one address when ``to`` is given)."""
    query = select(SandboxEmailMessage).order_by(
        SandboxEmailMessage.received_at.desc(), SandboxEmailMessage.id
    )
    if to is not None:
        query = query.where(SandboxEmailMessage.to == to.strip().lower())
    with transaction(session):
        rows = session.scalars(query.limit(_LIST_LIMIT)).all()
    return {
        "items": [
            {
                "to": m.to,
                "from": m.from_,
                "subject": m.subject,
                "body": m.body,
                "sent_at": m.received_at.isoformat(),
            }
            for m in rows
        ]
    }

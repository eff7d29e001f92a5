"""An SMS gateway speaking Twilio's Messages API; it keeps what it would have sent, for the demo and tests.

Bodies and numbers are personal data: this module never logs them.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import secrets
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from sqlalchemy import Index, String, Text, select
from sqlalchemy.orm import Mapped, mapped_column

from crossbay.api.deps import RuntimeDep, SessionDep
from crossbay.db import Base, transaction
from crossbay.errors import NotFound
from crossbay.runtime import Runtime

API_VERSION = "2010-04-01"
_LIST_LIMIT = 100


class SandboxSmsMessage(Base):
    __tablename__ = "sandbox_sms_messages"

    sid: Mapped[str] = mapped_column(String(34), primary_key=True)  # SM + 32 hex, like Twilio's
    account_sid: Mapped[str] = mapped_column(String(64))
    to: Mapped[str] = mapped_column(String(32))
    from_: Mapped[str] = mapped_column("from", String(32))
    body: Mapped[str] = mapped_column(Text)
    sent_at: Mapped[datetime]

    __table_args__ = (Index("ix_sandbox_sms_messages_to_sent_at", "to", "sent_at"),)


def _sandbox_only(runtime: RuntimeDep) -> None:
    if not runtime.settings.sandbox:
        raise NotFound()


router = APIRouter(tags=["sandbox"], dependencies=[Depends(_sandbox_only)])


async def _form_fields(request: Request) -> dict[str, str]:
    # Read here because the route is a plain ``def`` and cannot await the body.
    form = await request.form()
    return {key: value for key, value in form.items() if isinstance(value, str)}


@router.post("/sandbox/sms/2010-04-01/Accounts/{account_sid}/Messages.json", status_code=201)
def create_message(
    account_sid: str,
    request: Request,
    form: Annotated[dict[str, str], Depends(_form_fields)],
    session: SessionDep,
    runtime: RuntimeDep,
) -> JSONResponse:
    if not _authenticated(request, runtime, account_sid):
        return _twilio_error(401, 20003, "Authenticate")
    to, sender, body = form.get("To", "").strip(), form.get("From", "").strip(), form.get("Body", "")
    if not to:
        return _twilio_error(400, 21604, "A 'To' phone number is required.")
    if not sender:
        return _twilio_error(400, 21603, "A 'From' phone number is required.")
    if not body:
        return _twilio_error(400, 21602, "Message body is required.")
    if len(body) > 1600:
        return _twilio_error(400, 21617, "The concatenated message body exceeds the 1600 character limit.")
    message = SandboxSmsMessage(
        sid="SM" + secrets.token_hex(16),
        account_sid=account_sid,
        to=to,
        from_=sender,
        body=body,
        sent_at=runtime.clock.now(),
    )
    with transaction(session):
        session.add(message)
    return JSONResponse(_message_json(message), status_code=201)


@router.get("/sandbox/sms/messages")
def list_messages(session: SessionDep, phone: str | None = None) -> dict[str, list[dict[str, str]]]:
    """What the gateway would have sent, newest first (to one number when ``phone`` is given)."""
    query = select(SandboxSmsMessage).order_by(SandboxSmsMessage.sent_at.desc(), SandboxSmsMessage.sid)
    if phone is not None:
        phone = phone.strip()
        # An unescaped ``?phone=+852…`` arrives with the plus decoded to a space.
        candidates = {phone} if phone.startswith("+") else {phone, "+" + phone}
        query = query.where(SandboxSmsMessage.to.in_(candidates))
    with transaction(session):
        rows = session.scalars(query.limit(_LIST_LIMIT)).all()
    return {"items": [{"to": m.to, "body": m.body, "sent_at": m.sent_at.isoformat()} for m in rows]}


def _authenticated(request: Request, runtime: Runtime, account_sid: str) -> bool:
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        user, _, password = base64.b64decode(credentials.strip()).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return False
    settings = runtime.settings
    expected_token = settings.sms_auth_token or ""
    # Every comparison runs, so the answer time does not tell which part was wrong.
    checks = [
        hmac.compare_digest(user.encode(), settings.sms_account_sid.encode()),
        hmac.compare_digest(account_sid.encode(), settings.sms_account_sid.encode()),
        hmac.compare_digest(password.encode(), expected_token.encode()),
    ]
    return bool(expected_token) and all(checks)


def _twilio_error(status: int, code: int, message: str) -> JSONResponse:
    return JSONResponse(
        {
            "code": code,
            "message": message,
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status,
        },
        status_code=status,
    )


def _message_json(message: SandboxSmsMessage) -> dict[str, Any]:
    # Twilio's dates are RFC 2822 in GMT.
    created = format_datetime(message.sent_at.astimezone(UTC), usegmt=True)
    uri = f"/{API_VERSION}/Accounts/{message.account_sid}/Messages/{message.sid}"
    return {
        "sid": message.sid,
        "account_sid": message.account_sid,
        "to": message.to,
        "from": message.from_,
        "body": message.body,
        "status": "queued",
        "direction": "outbound-api",
        "api_version": API_VERSION,
        "num_segments": "1",
        "num_media": "0",
        "date_created": created,
        "date_updated": created,
        "date_sent": None,
        "price": None,
        "price_unit": "USD",
        "error_code": None,
        "error_message": None,
        "messaging_service_sid": None,
        "uri": uri + ".json",
        "subresource_uris": {"media": uri + "/Media.json"},
    }

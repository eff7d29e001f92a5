"""Email through an SMTP relay (smtplib): STARTTLS and login when configured.

Addresses and bodies are personal data: neither is ever logged.
"""

from __future__ import annotations

import smtplib
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr

from crossbay.clock import Clock
from crossbay.notify.errors import EmailError
from crossbay.settings import Settings, SettingsError


class Mailer:
    def __init__(
        self,
        host: str,
        port: int,
        *,
        sender: str,
        user: str | None = None,
        password: str | None = None,
        starttls: bool = True,
        timeout: float = 10.0,
    ) -> None:
        self._host, self._port = host, port
        self._sender = sender
        self._user, self._password = user, password
        self._starttls = starttls
        self._timeout = timeout

    def send(self, *, to: str, subject: str, body: str) -> None:
        """Hand one plain-text message to the relay; a refusal for good raises a non-retryable error."""
        message = EmailMessage()
        message["From"] = self._sender
        message["To"] = to
        message["Subject"] = subject
        message["Date"] = formatdate(localtime=False, usegmt=True)
        domain = parseaddr(self._sender)[1].rpartition("@")[2] or "crossbay.local"
        message["Message-ID"] = make_msgid(domain=domain)
        message.set_content(body)
        try:
            with smtplib.SMTP(self._host, self._port, timeout=self._timeout) as smtp:
                if self._starttls:
                    smtp.starttls()
                if self._user:
                    smtp.login(self._user, self._password or "")
                smtp.send_message(message)
        except smtplib.SMTPRecipientsRefused as error:
            raise EmailError("the mail relay refused the address") from error
        except smtplib.SMTPResponseException as error:
            # 5xx is a refusal for good; 4xx asks us to come back later.
            raise EmailError(
                f"the mail relay answered {error.smtp_code}", retryable=error.smtp_code < 500
            ) from error
        except (OSError, smtplib.SMTPException) as error:
            raise EmailError("the mail relay could not be reached", retryable=True) from error


def mailer_for(settings: Settings, clock: Clock) -> Mailer:
    """The configured relay; in sandbox mode without one, this process's local SMTP sink."""
    if settings.smtp_host:
        return Mailer(
            settings.smtp_host,
            settings.smtp_port,
            sender=settings.smtp_from,
            user=settings.smtp_user,
            password=settings.smtp_password,
            starttls=settings.smtp_starttls,
            timeout=settings.smtp_timeout_seconds,
        )
    if not settings.sandbox:
        raise SettingsError("CROSSBAY_SMTP_HOST is not set")
    from crossbay.sandbox.email import local_sink

    sink = local_sink(settings.database_url, clock)
    return Mailer("127.0.0.1", sink.port, sender=settings.smtp_from, starttls=False)

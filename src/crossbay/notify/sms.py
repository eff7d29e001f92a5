"""Text messages through a gateway speaking Twilio's Messages API (the sandbox speaks it too).

Bodies carry one-time codes and numbers identify people: neither is ever logged.
"""

from __future__ import annotations

from urllib.parse import quote

import httpx

from crossbay.notify.errors import SmsGatewayError


class SmsGateway:
    def __init__(
        self,
        base_url: str,
        account_sid: str,
        auth_token: str,
        sender: str,
        *,
        http: httpx.Client,
        timeout: float = 10.0,
    ) -> None:
        self._url = f"{base_url.rstrip('/')}/2010-04-01/Accounts/{quote(account_sid, safe='')}/Messages.json"
        self._auth = httpx.BasicAuth(account_sid, auth_token)
        self._sender = sender
        self._http = http
        self._timeout = timeout

    def send(self, *, to: str, body: str) -> str:
        """Hand one message to the gateway; returns its message sid."""
        try:
            response = self._http.post(
                self._url,
                data={"To": to, "From": self._sender, "Body": body},
                auth=self._auth,
                timeout=self._timeout,
            )
        except httpx.TimeoutException as error:
            raise SmsGatewayError("the SMS gateway did not answer in time", retryable=True) from error
        except httpx.TransportError as error:
            raise SmsGatewayError("the SMS gateway could not be reached", retryable=True) from error
        if not response.is_success:
            # Twilio's error bodies echo the number; only the status and its numeric code are kept.
            code = _error_code(response)
            raise SmsGatewayError(
                f"the SMS gateway answered {response.status_code}" + (f" (code {code})" if code else ""),
                retryable=response.status_code >= 500 or response.status_code == 429,
            )
        try:
            sid = response.json()["sid"]
        except (ValueError, KeyError, TypeError) as error:
            raise SmsGatewayError("the SMS gateway answered without a message sid") from error
        if not isinstance(sid, str) or not sid:
            raise SmsGatewayError("the SMS gateway answered without a message sid")
        return sid


def _error_code(response: httpx.Response) -> int | None:
    try:
        code = response.json().get("code")
    except (ValueError, AttributeError):
        return None
    return code if isinstance(code, int) else None

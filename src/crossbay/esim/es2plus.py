"""The operator's side of GSMA ES2+ (SGP.22 §5.3): order, confirm, cancel and release profiles.

Every call carries a ``functionCallIdentifier`` chosen by the caller and stored
before the call, so a retry (here, or by the worker after a crash) sends the
same one and the SM-DP+ answers it without allocating twice.
"""

from __future__ import annotations

import logging
import ssl
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from crossbay.esim.errors import Es2PlusError, SmdpUnavailable, error_for_status

log = logging.getLogger(__name__)

PATH = "/gsma/rsp2/es2plus/"
SUCCESS = frozenset({"Executed-Success", "Executed-WithWarning"})
FAILURE = frozenset({"Failed", "Expired"})


@dataclass(frozen=True)
class ConfirmedOrder:
    # Kept out of repr: the matching id is the secret half of the activation code.
    matching_id: str = field(repr=False)
    smdp_address: str


class Es2PlusClient:
    def __init__(
        self,
        base_url: str,
        *,
        requester_id: str,
        admin_protocol: str,
        http: httpx.Client,
        timeout: float = 10.0,
        retries: int = 2,
        backoff: float = 0.5,
        owns_http: bool = False,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.requester_id = requester_id
        self.admin_protocol = admin_protocol
        self.http = http
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.owns_http = owns_http

    def close(self) -> None:
        if self.owns_http:
            self.http.close()

    def download_order(
        self,
        *,
        call_id: str,
        eid: str | None = None,
        iccid: str | None = None,
        profile_type: str | None = None,
    ) -> str:
        """Reserve a profile (a given ICCID, or any of ``profile_type``); returns its ICCID."""
        body = self._call("downloadOrder", call_id, {"eid": eid, "iccid": iccid, "profileType": profile_type})
        answered = body.get("iccid")
        if not isinstance(answered, str) or not answered:
            raise Es2PlusError("downloadOrder answered without an ICCID", function="downloadOrder")
        return _strip_padding(answered)

    def confirm_order(
        self,
        *,
        call_id: str,
        iccid: str,
        release_flag: bool = True,
        eid: str | None = None,
        matching_id: str | None = None,
    ) -> ConfirmedOrder:
        """Confirm the reserved profile; with ``release_flag`` it can be downloaded at once."""
        body = self._call(
            "confirmOrder",
            call_id,
            {"iccid": iccid, "releaseFlag": release_flag, "eid": eid, "matchingId": matching_id},
        )
        answered = body.get("matchingId")
        if not isinstance(answered, str) or not answered:
            raise Es2PlusError("confirmOrder answered without a matching id", function="confirmOrder")
        address = body.get("smdpAddress")
        if not isinstance(address, str) or not address:
            # smdpAddress is optional in the answer; without it the profile is
            # served by the SM-DP+ we are talking to.
            address = urlsplit(self.base_url).netloc
        return ConfirmedOrder(matching_id=answered, smdp_address=address)

    def cancel_order(
        self,
        *,
        call_id: str,
        iccid: str,
        final_profile_status: str = "Available",
        eid: str | None = None,
        matching_id: str | None = None,
    ) -> None:
        """Withdraw an order not yet downloaded; the profile goes back to the pool or out of use."""
        self._call(
            "cancelOrder",
            call_id,
            {
                "iccid": iccid,
                "eid": eid,
                "matchingId": matching_id,
                "finalProfileStatusIndicator": final_profile_status,
            },
        )

    def release_profile(self, *, call_id: str, iccid: str) -> None:
        """Allow the download of a profile confirmed with ``release_flag=False``."""
        self._call("releaseProfile", call_id, {"iccid": iccid})

    def _call(self, function: str, call_id: str, fields: dict[str, Any]) -> dict[str, Any]:
        request = {
            "header": {"functionRequesterIdentifier": self.requester_id, "functionCallIdentifier": call_id},
            **{name: value for name, value in fields.items() if value is not None},
        }
        headers = {"X-Admin-Protocol": self.admin_protocol, "Content-Type": "application/json"}
        url = self.base_url + PATH + function
        attempt = 0
        while True:
            # build_request + send: the per-call timeout travels on the request
            # itself, whichever httpx.Client (or TestClient) we were given.
            outgoing = self.http.build_request(
                "POST", url, json=request, headers=headers, timeout=self.timeout
            )
            try:
                response = self.http.send(outgoing)
            except httpx.TransportError as exc:
                failure = f"transport error {type(exc).__name__}"
            else:
                # 429 and 5xx say nothing about the order itself: worth another try.
                if response.status_code < 500 and response.status_code != 429:
                    return _answer(function, response)
                failure = f"HTTP {response.status_code}"
            if attempt >= self.retries:
                log.warning(
                    "ES2+ call failed",
                    extra={"function": function, "call_id": call_id, "attempts": attempt + 1},
                )
                raise SmdpUnavailable(f"{function}: {failure}", function=function)
            # The same call id goes again: the SM-DP+ treats it as the same call.
            time.sleep(self.backoff * 2**attempt)
            attempt += 1


def mutual_tls_client(
    *, cert: Path | None, key: Path | None, ca_bundle: Path | None, timeout: float = 10.0
) -> httpx.Client | None:
    """An HTTP client that shows our certificate and trusts only the SM-DP+'s CA; None when unset.

    SGP.22 puts ES2+ on TLS with mutual authentication: the SM-DP+ knows us by
    the certificate, and we accept only a server certificate from the CA it
    was issued under.
    """
    if cert is None and key is None and ca_bundle is None:
        return None
    if (cert is None) != (key is None):
        raise ValueError("the SM-DP+ client certificate and key are set together")
    context = ssl.create_default_context(cafile=str(ca_bundle) if ca_bundle else None)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if cert is not None and key is not None:
        context.load_cert_chain(certfile=str(cert), keyfile=str(key))
    return httpx.Client(verify=context, timeout=timeout, headers={"User-Agent": "crossbay/0.1"})


def _answer(function: str, response: httpx.Response) -> dict[str, Any]:
    """The body of an ES2+ answer that executed, or the error its status names."""
    try:
        body = response.json()
        execution = body["header"]["functionExecutionStatus"]
        status = execution["status"]
    except (ValueError, KeyError, TypeError):
        raise Es2PlusError(
            f"{function}: unreadable answer (HTTP {response.status_code})", function=function
        ) from None
    codes = execution.get("statusCodeData")
    codes = codes if isinstance(codes, dict) else {}
    subject, reason = _code(codes.get("subjectCode")), _code(codes.get("reasonCode"))
    if status in SUCCESS and response.status_code == 200:
        if status == "Executed-WithWarning":
            log.warning(
                "ES2+ executed with warning",
                extra={"function": function, "subject_code": subject, "reason_code": reason},
            )
        return dict(body)
    if status in FAILURE:
        raise error_for_status(status, subject, reason, function=function)
    raise Es2PlusError(f"{function}: unexpected answer (HTTP {response.status_code})", function=function)


def _code(value: Any) -> str | None:
    return None if value is None else str(value)


def _strip_padding(iccid: str) -> str:
    # Some SM-DP+ pad a 19-digit ICCID to 20 characters with a trailing F.
    return iccid[:-1] if len(iccid) == 20 and iccid[-1] in "Ff" else iccid

"""The ES2+ client over real sockets: a lost answer retried with the same call id, and mutual TLS."""

from __future__ import annotations

import datetime
import ipaddress
import secrets
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from crossbay.esim.activation import iccid_is_valid
from crossbay.esim.errors import SmdpUnavailable
from crossbay.esim.es2plus import Es2PlusClient, mutual_tls_client
from tests.conftest import LiveServer
from tests.support.journey import poll

PROTOCOL = "gsma/rsp/v2.5.0"


def client_for(server: LiveServer, http: httpx.Client, *, timeout: float) -> Es2PlusClient:
    return Es2PlusClient(
        server.url + "/sandbox/smdp",
        requester_id=server.runtime.settings.smdp_requester_id,
        admin_protocol=PROTOCOL,
        http=http,
        timeout=timeout,
        retries=3,
        backoff=0.05,
    )


def faults(http: httpx.Client, server: LiveServer, **values: object) -> None:
    assert http.put(server.url + "/sandbox/smdp/faults", json=values).status_code == 200


def stats(http: httpx.Client, server: LiveServer) -> dict[str, int]:
    answer: dict[str, int] = http.get(server.url + "/sandbox/smdp/stats").json()
    return answer


class TestTimeouts:
    def test_an_answer_lost_to_a_timeout_is_fetched_again_with_the_same_call_id(
        self, server: LiveServer
    ) -> None:
        with httpx.Client() as http:
            # The SM-DP+ executes the first call, then answers too late for our 0.5 s timeout.
            faults(http, server, answer_delay_seconds=1.5, delay_calls=1)
            call_id = "fci-" + secrets.token_hex(8)
            iccid = client_for(server, http, timeout=0.5).download_order(call_id=call_id)
            assert iccid_is_valid(iccid)
            assert stats(http, server) == {"allocated": 1, "calls": 1}

    def test_a_call_that_timed_out_before_executing_still_yields_one_profile(
        self, server: LiveServer
    ) -> None:
        with httpx.Client() as http:
            # The first attempt sleeps before executing; the retry overtakes it. When the first
            # one wakes up it finds the call answered and replays that answer.
            faults(http, server, delay_seconds=1.0, delay_calls=1)
            call_id = "fci-" + secrets.token_hex(8)
            first = client_for(server, http, timeout=0.3).download_order(call_id=call_id)
            poll(lambda: stats(http, server)["calls"], lambda calls: calls == 1, timeout=5)
            assert client_for(server, http, timeout=5).download_order(call_id=call_id) == first
            assert stats(http, server) == {"allocated": 1, "calls": 1}

    def test_every_attempt_timing_out_is_unavailable_and_retryable(self, server: LiveServer) -> None:
        with httpx.Client() as http:
            faults(http, server, delay_seconds=0.6, delay_calls=4)
            with pytest.raises(SmdpUnavailable) as caught:
                client_for(server, http, timeout=0.2).download_order(call_id="fci-" + secrets.token_hex(8))
            assert caught.value.retryable


# --- mutual TLS --------------------------------------------------------------------------------------


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _issue(
    subject: str, key: ec.EllipticCurvePrivateKey, issuer: tuple[x509.Name, ec.EllipticCurvePrivateKey] | None
) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer[0] if issuer else _name(subject))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
    )
    if issuer is None:
        builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
    else:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False
        )
    return builder.sign(issuer[1] if issuer else key, hashes.SHA256())


def _write(path: Path, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> tuple[Path, Path]:
    cert_path, key_path = path.with_suffix(".crt"), path.with_suffix(".key")
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


@pytest.fixture
def pki(tmp_path: Path) -> dict[str, Path]:
    """A CA, an SM-DP+ server certificate for 127.0.0.1 and an operator client certificate."""
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _issue("test ES2+ CA", ca_key, None)
    ca_path, _ = _write(tmp_path / "ca", ca, ca_key)
    server_key, client_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    server_cert, server_key_path = _write(
        tmp_path / "smdp", _issue("smdp", server_key, (ca.subject, ca_key)), server_key
    )
    client_cert, client_key_path = _write(
        tmp_path / "operator", _issue("crossbay", client_key, (ca.subject, ca_key)), client_key
    )
    return {
        "ca": ca_path,
        "server_cert": server_cert,
        "server_key": server_key_path,
        "client_cert": client_cert,
        "client_key": client_key_path,
    }


@pytest.fixture
def tls_smdp(live_server: LiveServer, committed: object, pki: dict[str, Path]) -> Iterator[str]:
    """The same app, served over TLS that demands a client certificate from our CA."""
    from crossbay.app import create_app

    server = uvicorn.Server(
        uvicorn.Config(
            create_app(live_server.runtime),
            host="127.0.0.1",
            port=0,
            log_config=None,
            access_log=False,
            lifespan="off",
            ssl_certfile=str(pki["server_cert"]),
            ssl_keyfile=str(pki["server_key"]),
            ssl_ca_certs=str(pki["ca"]),
            ssl_cert_reqs=ssl.CERT_REQUIRED,
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        poll(lambda: server.started, bool, timeout=20, interval=0.01)
        yield f"https://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}/sandbox/smdp"
    finally:
        server.should_exit = True
        thread.join(timeout=15)


class TestMutualTls:
    def test_with_our_certificate_the_call_goes_through(self, tls_smdp: str, pki: dict[str, Path]) -> None:
        http = mutual_tls_client(cert=pki["client_cert"], key=pki["client_key"], ca_bundle=pki["ca"])
        assert http is not None
        client = Es2PlusClient(
            tls_smdp, requester_id="crossbay", admin_protocol=PROTOCOL, http=http, owns_http=True
        )
        try:
            assert iccid_is_valid(client.download_order(call_id="fci-" + secrets.token_hex(8)))
        finally:
            client.close()

    def test_without_a_client_certificate_the_smdp_refuses_the_connection(
        self, tls_smdp: str, pki: dict[str, Path]
    ) -> None:
        http = mutual_tls_client(cert=None, key=None, ca_bundle=pki["ca"])
        assert http is not None
        client = Es2PlusClient(
            tls_smdp, requester_id="crossbay", admin_protocol=PROTOCOL, http=http, backoff=0.0
        )
        with pytest.raises(SmdpUnavailable), http:
            client.download_order(call_id="fci-" + secrets.token_hex(8))

    def test_a_server_outside_our_ca_is_not_trusted(self, tls_smdp: str, pki: dict[str, Path]) -> None:
        with httpx.Client() as http:  # the system CAs: the test CA is not among them
            client = Es2PlusClient(
                tls_smdp, requester_id="crossbay", admin_protocol=PROTOCOL, http=http, backoff=0.0
            )
            with pytest.raises(SmdpUnavailable):
                client.download_order(call_id="fci-" + secrets.token_hex(8))

    def test_a_certificate_without_its_key_is_a_configuration_error(self, pki: dict[str, Path]) -> None:
        with pytest.raises(ValueError, match="together"):
            mutual_tls_client(cert=pki["client_cert"], key=None, ca_bundle=None)

    def test_nothing_configured_uses_the_shared_client(self) -> None:
        assert mutual_tls_client(cert=None, key=None, ca_bundle=None) is None

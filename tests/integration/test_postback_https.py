"""HTTPS webhooks connect to the checked address yet verify the URL's host name.

The request goes to the IP address the URL check approved (no second DNS lookup), with
the host name for TLS SNI, the certificate check and the Host header. The certificates
here name ``hooks.test`` only, not 127.0.0.1: a client checking the address instead of
the name would fail.
"""

from __future__ import annotations

import ipaddress
import ssl
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from pressline.config import Settings
from pressline.postbacks.schedule import Outcome
from pressline.postbacks.sending import Sender
from tests.support.dripping import DrippingServer
from tests.support.receiver import Receiver, running_receiver


def certificate(directory: Path, name: str) -> tuple[Path, Path]:
    """A self-signed certificate for ``name`` only (no IP address in it)."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / f"{name}.pem", directory / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@pytest.fixture
def tls_receiver(tmp_path: Path) -> Iterator[tuple[Receiver, Path]]:
    cert, key = certificate(tmp_path, "hooks.test")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    with running_receiver(tls=context) as receiver:
        yield receiver, cert


def sender(trusted: Path) -> Sender:
    settings = Settings(postback_allowed_networks=["127.0.0.0/8"], postback_timeout_seconds=5)
    resolve = {"hooks.test": ["127.0.0.1"]}
    return Sender(
        settings,
        resolver=lambda host, port: resolve[host],
        verify=ssl.create_default_context(cafile=str(trusted)),
    )


def test_https_reaches_the_checked_address_under_the_urls_name(
    tls_receiver: tuple[Receiver, Path],
) -> None:
    receiver, cert = tls_receiver
    port = receiver.server.server_address[1]
    assert ipaddress.ip_address(str(receiver.server.server_address[0])).is_loopback
    client = sender(cert)
    try:
        result = client.send_webhook(
            url=f"https://hooks.test:{port}/hook?x=1",
            method="POST",
            headers={"Content-Type": "application/json", "webhook-id": "msg_1"},
            body='{"ok":true}',
        )
    finally:
        client.close()
    assert result.outcome is Outcome.DELIVERED, result.error
    (request,) = receiver.requests
    assert request.headers["host"] == f"hooks.test:{port}"
    assert request.path == "/hook?x=1" and request.body == b'{"ok":true}'


def test_a_certificate_for_another_name_is_a_failed_attempt(
    tls_receiver: tuple[Receiver, Path], tmp_path: Path
) -> None:
    receiver, _ = tls_receiver
    stranger, _ = certificate(tmp_path, "other.test")  # trusted, but not the server's
    port = receiver.server.server_address[1]
    client = sender(stranger)
    try:
        result = client.send_webhook(
            url=f"https://hooks.test:{port}/hook", method="POST", headers={}, body="{}"
        )
    finally:
        client.close()
    assert result.outcome is Outcome.RETRY and result.status_code is None
    assert "CERTIFICATE_VERIFY_FAILED" in (result.error or "")
    assert receiver.requests == []


@pytest.mark.parametrize("tls", [False, True], ids=["http", "https"])
def test_a_receiver_dripping_its_answer_is_cut_off_at_the_timeout(
    tmp_path: Path, tls: bool
) -> None:
    import time

    cert, key = certificate(tmp_path, "hooks.test")
    context = None
    if tls:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
    receiver = DrippingServer(
        first=b"HTTP/1.1 200 OK\r\n", line=b"X-Drip: a\r\n", last=b"Content-Length: 0\r\n\r\n",
        read_request=True, tls=context,
    )  # fmt: skip
    settings = Settings(
        postback_allowed_networks=["127.0.0.0/8"], postback_allow_http=True,
        postback_timeout_seconds=1,
    )  # fmt: skip
    client = Sender(
        settings,
        resolver=lambda host, port: ["127.0.0.1"],
        verify=ssl.create_default_context(cafile=str(cert)),
    )
    started = time.monotonic()
    try:
        result = client.send_webhook(
            url=f"{'https' if tls else 'http'}://hooks.test:{receiver.port}/hook",
            method="POST", headers={}, body="{}",
        )  # fmt: skip
    finally:
        client.close()
        receiver.close()
    assert time.monotonic() - started < 4  # not the eight seconds of dripping
    assert result.outcome is Outcome.RETRY
    assert result.error is not None and result.error.startswith("timeout")

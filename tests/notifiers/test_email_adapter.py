"""The email channel against a real SMTP server (aiosmtpd) on a free loopback port."""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
import ssl
import subprocess
from collections.abc import Iterator
from email import message_from_bytes
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from notifiers.adapters.base import Notification
from notifiers.adapters.smtp import EmailNotifier


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Inbox:
    """Collects what the server accepted, and whether it came over TLS."""

    def __init__(self, refuse: str | None = None) -> None:
        self.messages: list[Message] = []
        self.envelopes: list[Any] = []
        self.tls: list[bool] = []
        self.refuse = refuse

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address == self.refuse:
            return "550 5.1.1 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(message_from_bytes(envelope.content))
        self.envelopes.append(envelope)
        self.tls.append(session.ssl is not None)
        return "250 Message accepted"


def notification(address: str = "lead.clinician@nhs.example") -> Notification:
    return Notification(key="c-1:hqip_alarm:preliminary_notice:provider:stage",
                        recipient="provider", address=address,
                        subject="[ncap] Potential alarm (preliminary): death_30d for RXF",
                        text="What was seen: ...\n", body={"schema": "vigil.notification/1"},
                        fhir={"resourceType": "Communication"}, case_id="c-1")


@pytest.fixture
def plain_server() -> Iterator[tuple[Inbox, int]]:
    inbox, port = Inbox(refuse="nobody@nhs.example"), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


def test_sends_letter_with_json_and_fhir_attachments(plain_server: tuple[Inbox, int]) -> None:
    inbox, port = plain_server
    notifier = EmailNotifier("nhsmail", "127.0.0.1", port, "audit@vigil.example",
                             starttls=False, timeout=5)
    result = asyncio.run(notifier.send(notification()))
    assert result.ok
    (received,) = inbox.messages
    assert received["Subject"].startswith("[ncap] Potential alarm")
    assert received["X-Vigil-Key"] == "c-1:hqip_alarm:preliminary_notice:provider:stage"
    assert inbox.envelopes[0].rcpt_tos == ["lead.clinician@nhs.example"]
    parts = {p.get_filename(): p for p in received.walk() if p.get_filename()}
    body = json.loads(parts["vigil-notification.json"].get_payload(decode=True))
    assert body == {"schema": "vigil.notification/1"}
    assert "communication.fhir.json" in parts
    # The same key gives the same Message-ID, so a re-send can be recognised.
    asyncio.run(notifier.send(notification()))
    assert inbox.messages[0]["Message-ID"] == inbox.messages[1]["Message-ID"]


def test_refused_recipient_is_permanent_and_no_server_is_retryable(
        plain_server: tuple[Inbox, int]) -> None:
    _, port = plain_server
    notifier = EmailNotifier("nhsmail", "127.0.0.1", port, "audit@vigil.example",
                             starttls=False, timeout=5)
    refused = asyncio.run(notifier.send(notification("nobody@nhs.example")))
    assert (refused.ok, refused.reason, refused.retryable) == (False, "smtp_refused", False)
    down = EmailNotifier("nhsmail", "127.0.0.1", free_port(), "audit@vigil.example",
                         starttls=False, timeout=2)
    result = asyncio.run(down.send(notification()))
    assert (result.ok, result.retryable) == (False, True)


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a test certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60)
    return cert, key


def test_starttls_and_auth(certificate: tuple[Path, Path]) -> None:
    cert, key = certificate
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)

    def authenticator(server, session, envelope, mechanism, auth_data):  # type: ignore[no-untyped-def]
        ok = isinstance(auth_data, LoginPassword) and \
            (auth_data.login, auth_data.password) == (b"audit", b"s3cret")
        return AuthResult(success=ok, handled=False)  # let the server answer 535

    inbox, port = Inbox(), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port, tls_context=context,
                            require_starttls=True, auth_required=True,
                            authenticator=authenticator)
    controller.start()
    try:
        good = EmailNotifier("nhsmail", "127.0.0.1", port, "audit@vigil.example",
                             starttls=True, username="audit", password="s3cret", timeout=5,
                             cert_bundle=str(cert))
        assert asyncio.run(good.send(notification())).ok
        assert inbox.tls == [True]
        wrong = EmailNotifier("nhsmail", "127.0.0.1", port, "audit@vigil.example",
                              starttls=True, username="audit", password="guess", timeout=5,
                              cert_bundle=str(cert))
        result = asyncio.run(wrong.send(notification()))
        assert (result.ok, result.reason, result.retryable) == (False, "smtp_auth", False)
        assert len(inbox.messages) == 1
    finally:
        controller.stop()

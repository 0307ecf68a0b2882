"""Webhook and SMTP transport security (issue 11, item 5): the signature covers a timestamp
with the body so a captured request cannot be replayed outside the tolerance window;
``http://`` URLs need ``allow_insecure``; SMTP credentials are never sent without TLS."""

from __future__ import annotations

import asyncio
import time

import pytest

from notifiers.adapters.base import Notification
from notifiers.adapters.channels import build_notifiers
from notifiers.adapters.smtp import EmailNotifier
from notifiers.adapters.webhook import WebhookNotifier
from notifiers.adapters.webhook_signature import SIGNATURE_HEADER, SignatureError, sign, verify
from notifiers.recipients import RecipientsConfig
from tests.support.webhook_receivers import SECRET, Receiver, serve


def _message(address: str = "") -> Notification:
    return Notification(key="c-1:hqip_alarm:confirmation:cqc:stage", recipient="cqc",
                        address=address, subject="Confirmed outlier", text="Letter\n",
                        body={"schema": "vigil.notification/1"}, case_id="c-1")


async def _capture() -> tuple[bytes, dict[str, str]]:
    receiver = Receiver()
    server, url = await serve(receiver)
    notifier = WebhookNotifier("hook", url, SECRET, timeout=5, allow_insecure=True)
    try:
        assert (await notifier.send(_message())).ok
    finally:
        await notifier.close()
        await server.close()
    assert receiver.bad_signatures == 0
    return receiver.bodies[0], receiver.headers[0]


def test_the_signature_covers_a_timestamp_and_the_body() -> None:
    body, headers = asyncio.run(_capture())
    header = headers[SIGNATURE_HEADER]
    signed_at = verify(SECRET, header, body)
    assert header.startswith(f"t={signed_at},v1=") and abs(time.time() - signed_at) < 3600
    with pytest.raises(SignatureError):  # a body swapped under a captured header
        verify(SECRET, header, body.replace(b"Confirmed", b"Cleared!!"))
    with pytest.raises(SignatureError):  # a timestamp moved forward to look fresh
        verify(SECRET, header.replace(f"t={signed_at}", f"t={signed_at + 600}"), body,
               now=signed_at + 600)


def test_a_captured_request_replayed_outside_the_window_is_rejected() -> None:
    body, headers = asyncio.run(_capture())
    header = headers[SIGNATURE_HEADER]
    signed_at = verify(SECRET, header, body)
    assert verify(SECRET, header, body, now=signed_at + 299) == signed_at
    with pytest.raises(SignatureError, match="tolerance"):
        verify(SECRET, header, body, now=signed_at + 301)
    with pytest.raises(SignatureError, match="tolerance"):
        verify(SECRET, header, body, now=signed_at + 86_400, tolerance=60)


def test_a_body_only_signature_is_not_accepted() -> None:
    import hashlib
    import hmac

    body = b"{}"
    old_style = "sha256=" + hmac.new(SECRET, body, hashlib.sha256).hexdigest()
    with pytest.raises(SignatureError):
        verify(SECRET, old_style, body)
    assert verify(SECRET, sign(SECRET, body, timestamp=1_700_000_000), body,
                  now=1_700_000_000) == 1_700_000_000


def test_http_urls_are_refused_unless_allow_insecure() -> None:
    with pytest.raises(ValueError, match="https"):
        WebhookNotifier("hook", "http://intake.example/vigil", SECRET)
    env = {"HOOK_KEY": "k" * 32}
    insecure = {"type": "webhook", "url": "http://intake.example/vigil",
                "secret_env": "HOOK_KEY"}
    with pytest.raises(ValueError, match="https"):
        WebhookNotifier.from_config("hook", insecure, env)
    allowed = WebhookNotifier.from_config("hook", {**insecure, "allow_insecure": True}, env)
    assert allowed.url == "http://intake.example/vigil"
    assert WebhookNotifier("hook", "https://intake.example/vigil", SECRET).url


def test_an_http_address_on_an_https_channel_is_not_sent() -> None:
    notifier = WebhookNotifier("hook", "https://intake.example/vigil", SECRET)
    result = asyncio.run(notifier.send(_message(address="http://127.0.0.1:9/hook")))
    assert (result.ok, result.reason, result.retryable) == (False, "insecure_url", False)


def test_smtp_credentials_without_tls_are_refused() -> None:
    with pytest.raises(ValueError, match="TLS"):
        EmailNotifier("mail", "smtp.example", 25, "vigil@example", starttls=False,
                      username="audit", password="s3cret")
    with pytest.raises(ValueError, match="TLS"):
        EmailNotifier.from_config("mail", {"host": "smtp.example", "sender": "v@example",
                                           "starttls": False, "username": "audit",
                                           "password_env": "SMTP_PW"}, {"SMTP_PW": "s3cret"})
    # Implicit TLS with credentials, and plain SMTP without them (a local sink), stay allowed.
    EmailNotifier("mail", "smtp.example", 465, "vigil@example", starttls=False, use_tls=True,
                  username="audit", password="s3cret")
    EmailNotifier("mail", "127.0.0.1", 1025, "vigil@example", starttls=False)


def test_recipients_with_an_http_webhook_fail_to_build() -> None:
    config = RecipientsConfig(channels={"hook": {"type": "webhook", "secret_env": "HOOK_KEY",
                                                 "url": "http://intake.example/vigil"}},
                              cqc=[{"channel": "hook"}])
    with pytest.raises(ValueError, match="https"):
        build_notifiers(config, {"HOOK_KEY": "k" * 32})

"""Secure email (NHSmail-style SMTP submission) with aiosmtplib: STARTTLS and AUTH.

Each notification is one message: the plain-language letter as the text part, the machine
body (and any FHIR ``Communication``) as JSON attachments, and any look-back pack as a zip.
``Message-ID`` is derived from the notification key, so a mail system can recognise a re-send
of the same notification.
Connection problems and 4xx replies are retried; 5xx replies and refused recipients are
permanent.
"""

from __future__ import annotations

import hashlib
import json
from email.message import EmailMessage
from email.utils import formatdate
from typing import Any

import aiosmtplib

from notifiers.adapters.base import DeliveryResult, Notification


def build_message(message: Notification, sender: str) -> EmailMessage:
    """The email for one notification.

    >>> n = Notification("c1:p:s:cqc:stage", "cqc", "intake@cqc.example", "Subj", "Text\\n",
    ...                  {"schema": "vigil.notification/1"})
    >>> m = build_message(n, "vigil@audit.example")
    >>> m["To"], m["Message-ID"].endswith("@vigil>"), m["X-Vigil-Key"]
    ('intake@cqc.example', True, 'c1:p:s:cqc:stage')
    """
    email = EmailMessage()
    email["From"] = sender
    email["To"] = message.address
    email["Subject"] = message.subject
    email["Date"] = formatdate(localtime=False)
    email["Message-ID"] = f"<{hashlib.sha256(message.key.encode()).hexdigest()[:32]}@vigil>"
    email["X-Vigil-Key"] = message.key
    email.set_content(message.text)
    email.add_attachment(json.dumps(message.body, indent=2, sort_keys=True).encode(),
                         maintype="application", subtype="json",
                         filename="vigil-notification.json")
    if message.fhir is not None:
        email.add_attachment(json.dumps(message.fhir, indent=2).encode(),
                             maintype="application", subtype="fhir+json",
                             filename="communication.fhir.json")
    for attachment in message.attachments:
        maintype, _, subtype = attachment.content_type.partition("/")
        email.add_attachment(attachment.data, maintype=maintype, subtype=subtype,
                             filename=attachment.filename)
    return email


class EmailNotifier:
    """Sends through an SMTP submission server.

    Parameters
    ----------
    starttls
        Upgrade with STARTTLS (port 587). ``use_tls`` instead connects with implicit TLS
        (port 465). With neither, the connection is plain: for a local relay or tests only,
        and then without credentials (AUTH in clear is refused when the notifier is built).
    cert_bundle
        CA file to verify the server with (default: the system's).
    """

    def __init__(self, name: str, host: str, port: int, sender: str, *,
                 starttls: bool = True, use_tls: bool = False, username: str | None = None,
                 password: str | None = None, timeout: float = 30.0,
                 cert_bundle: str | None = None) -> None:
        if (username or password) and not (starttls or use_tls):
            # The password would cross the network in clear (AUTH PLAIN/LOGIN is base64).
            raise ValueError(f"email {name}: SMTP credentials need TLS: set starttls: true or "
                             "use_tls: true (plain SMTP only without credentials, to a local "
                             "relay)")
        self.name, self.host, self.port, self.sender = name, host, port, sender
        self.starttls, self.use_tls = starttls, use_tls
        self.username, self.password = username, password
        self.timeout, self.cert_bundle = timeout, cert_bundle

    @classmethod
    def from_config(cls, name: str, settings: dict[str, Any],
                    env: dict[str, str]) -> EmailNotifier:
        password_env = settings.get("password_env")
        return cls(name, settings["host"], int(settings.get("port", 587)), settings["sender"],
                   starttls=bool(settings.get("starttls", True)),
                   use_tls=bool(settings.get("use_tls", False)),
                   username=settings.get("username"),
                   password=env.get(password_env) if password_env else None,
                   timeout=float(settings.get("timeout", 30.0)),
                   cert_bundle=settings.get("cert_bundle"))

    async def send(self, message: Notification) -> DeliveryResult:
        email = build_message(message, self.sender)
        try:
            await aiosmtplib.send(
                email, hostname=self.host, port=self.port, username=self.username,
                password=self.password, use_tls=self.use_tls,
                start_tls=self.starttls and not self.use_tls, timeout=self.timeout,
                cert_bundle=self.cert_bundle)
        except aiosmtplib.SMTPRecipientsRefused as error:
            return DeliveryResult.failed("smtp_refused", retryable=False, detail=str(error))
        except aiosmtplib.SMTPAuthenticationError as error:
            return DeliveryResult.failed("smtp_auth", retryable=False, detail=str(error))
        except aiosmtplib.SMTPResponseException as error:
            return DeliveryResult.failed(f"smtp_{error.code}", retryable=error.code < 500,
                                         detail=error.message)
        except (aiosmtplib.SMTPTimeoutError, TimeoutError):
            return DeliveryResult.failed("timeout")
        except (aiosmtplib.SMTPException, OSError) as error:
            return DeliveryResult.failed("connection", detail=f"{type(error).__name__}: {error}")
        return DeliveryResult.sent()

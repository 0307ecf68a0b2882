"""A signed HTTPS webhook: the notification as JSON, POSTed with an HMAC-SHA256 signature.

Headers: ``X-Vigil-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>." + body>``
(:mod:`notifiers.adapters.webhook_signature`; receivers check it with ``verify``, which
refuses a timestamp outside a tolerance window, so a captured request cannot be replayed),
``Idempotency-Key: <notification key>`` (so a retry after a lost response can be
recognised) and ``Content-Type: application/json``. URLs must be ``https://`` unless the
channel sets ``allow_insecure: true`` (local development and tests only).
2xx is delivered; 408, 429 and 5xx are retried (429 and 503 honour ``Retry-After``, in
seconds or as an HTTP date); any other 4xx is permanent.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import aiohttp

from notifiers.adapters.base import DeliveryResult, Notification
from notifiers.adapters.webhook_signature import SIGNATURE_HEADER, sign

__all__ = ["SIGNATURE_HEADER", "WebhookNotifier", "insecure_url", "parse_retry_after",
           "payload"]


def insecure_url(url: str) -> bool:
    """Whether ``url`` would send a signed notification in clear.

    >>> insecure_url("http://intake.example/hook"), insecure_url("https://intake.example/h")
    (True, False)
    """
    return not url.lower().startswith("https://")


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header.

    >>> parse_retry_after("2")
    2.0
    >>> parse_retry_after("Wed, 21 Oct 2015 07:28:05 GMT",
    ...                   datetime(2015, 10, 21, 7, 28, tzinfo=UTC))
    5.0
    """
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def payload(message: Notification) -> bytes:
    """The body bytes that are sent and signed."""
    document = {"key": message.key, "case_id": message.case_id,
                "recipient": message.recipient, "subject": message.subject,
                "text": message.text, "notification": message.body}
    if message.fhir is not None:
        document["fhir"] = message.fhir
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()


class WebhookNotifier:
    """POSTs to ``url`` (the notification's ``address`` overrides it when it is a URL)."""

    def __init__(self, name: str, url: str, secret: bytes, *, timeout: float = 30.0,
                 ssl: Any = None, allow_insecure: bool = False) -> None:
        if not secret:
            raise ValueError(f"webhook {name}: a signing secret is required")
        if insecure_url(url) and not allow_insecure:
            raise ValueError(f"webhook {name}: the URL must be https:// (allow_insecure: true "
                             "only for local development)")
        self.name, self.url, self.secret = name, url, secret
        self.allow_insecure = allow_insecure
        self.timeout, self.ssl = timeout, ssl
        self._session: aiohttp.ClientSession | None = None

    @classmethod
    def from_config(cls, name: str, settings: dict[str, Any],
                    env: dict[str, str]) -> WebhookNotifier:
        secret_env = settings.get("secret_env")
        if not secret_env or not env.get(secret_env):
            raise ValueError(f"channel {name}: set secret_env to an environment variable "
                             "holding the HMAC secret")
        return cls(name, settings["url"], env[secret_env].encode(),
                   timeout=float(settings.get("timeout", 30.0)),
                   allow_insecure=settings.get("allow_insecure") is True)

    async def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.timeout))
        return self._session

    async def send(self, message: Notification) -> DeliveryResult:
        body = payload(message)
        url = message.address if message.address.startswith(("https://", "http://")) else self.url
        if insecure_url(url) and not self.allow_insecure:  # an address may name its own URL
            return DeliveryResult.failed("insecure_url", retryable=False,
                                         detail="webhook addresses must be https://")
        # Signed at each attempt: a retry carries a fresh timestamp inside the window.
        headers = {"Content-Type": "application/json",
                   SIGNATURE_HEADER: sign(self.secret, body),
                   "Idempotency-Key": message.key}
        session = await self._client()
        try:
            async with session.post(url, data=body, headers=headers, ssl=self.ssl) as response:
                status = response.status
                retry_after = parse_retry_after(response.headers.get("Retry-After"))
                await response.read()
        except TimeoutError:
            return DeliveryResult.failed("timeout")
        except aiohttp.ClientError as error:
            return DeliveryResult.failed("connection", detail=f"{type(error).__name__}: {error}")
        if 200 <= status < 300:
            return DeliveryResult.sent(f"HTTP {status}")
        retryable = status in (408, 429) or status >= 500
        return DeliveryResult.failed(f"http_{status}", retryable=retryable,
                                     retry_after=retry_after if retryable else None)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

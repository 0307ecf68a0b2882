"""The one interface every notification channel implements (Dispatch-style plugins).

Adding a channel is one new module with a class that has ``name`` and ``async send``, plus
one line in :data:`notifiers.adapters.channels.CHANNEL_TYPES`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file sent with a notification (a look-back pack)."""

    filename: str
    content_type: str
    data: bytes


@dataclass(frozen=True, slots=True)
class Notification:
    """One message for one address, as rendered when the engine requested it."""

    key: str
    recipient: str
    address: str
    subject: str
    text: str
    body: dict[str, Any]
    fhir: dict[str, Any] | None = None
    case_id: str | None = None
    attachments: tuple[Attachment, ...] = ()


@dataclass(frozen=True, slots=True)
class DeliveryResult:
    """What one attempt achieved. ``reason`` is a short code (``timeout``, ``http_503``,
    ``connection``, ``smtp_550``…) used as a metric label; ``retry_after`` is the delay the
    receiver asked for, in seconds."""

    ok: bool
    reason: str = "ok"
    retryable: bool = True
    retry_after: float | None = None
    detail: str | None = None

    @classmethod
    def sent(cls, detail: str | None = None) -> DeliveryResult:
        return cls(True, "ok", False, None, detail)

    @classmethod
    def failed(cls, reason: str, *, retryable: bool = True, retry_after: float | None = None,
               detail: str | None = None) -> DeliveryResult:
        return cls(False, reason, retryable, retry_after, detail)


class Notifier(Protocol):
    """A channel. ``send`` returns a result for expected failures and may raise for bugs;
    the dispatcher treats an exception or a timeout as a retryable failure."""

    name: str

    async def send(self, message: Notification) -> DeliveryResult: ...

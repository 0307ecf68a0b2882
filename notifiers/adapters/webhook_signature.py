"""The webhook signature scheme: HMAC-SHA256 over the timestamp and the body, with a
tolerance window (as Stripe's ``Stripe-Signature``), and the helper a receiver verifies it with.

Header ``X-Vigil-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." + body)>``.
Signing the timestamp with the body means a captured request cannot be replayed later: the
receiver refuses a timestamp outside its window (default 300 s either way), and keeps the
``Idempotency-Key`` of what it accepted inside the window to drop duplicates. Several ``v1=``
entries may appear (during a secret rotation); one matching is enough.

>>> header = sign(b"k", b"{}", timestamp=1700000000)
>>> header
't=1700000000,v1=c6ef4734033cee2367414a0939385eca0397754aa7a59716da7463a9298b5146'
>>> verify(b"k", header, b"{}", now=1700000100)
1700000000
>>> verify(b"k", header, b"{}", now=1700000400)
Traceback (most recent call last):
...
notifiers.adapters.webhook_signature.SignatureError: timestamp outside the 300 s tolerance
"""

from __future__ import annotations

import hashlib
import hmac
import time

SIGNATURE_HEADER = "X-Vigil-Signature"
DEFAULT_TOLERANCE = 300.0
"""Seconds a receiver accepts between the signed timestamp and its own clock."""


class SignatureError(ValueError):
    """The signature header is missing, malformed, stale or does not match."""


def _mac(secret: bytes, timestamp: int, body: bytes) -> str:
    return hmac.new(secret, str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()


def sign(secret: bytes, body: bytes, *, timestamp: int | None = None) -> str:
    """The header value for ``body`` sent at ``timestamp`` (now when omitted)."""
    when = int(time.time()) if timestamp is None else timestamp
    return f"t={when},v1={_mac(secret, when, body)}"


def verify(secret: bytes, header: str | None, body: bytes, *,
           tolerance: float = DEFAULT_TOLERANCE, now: float | None = None) -> int:
    """The signed timestamp when ``header`` is a valid signature of ``body`` within
    ``tolerance`` seconds of ``now``; :class:`SignatureError` otherwise.

    >>> verify(b"k", "sha256=abc", b"{}")
    Traceback (most recent call last):
    ...
    notifiers.adapters.webhook_signature.SignatureError: no t= timestamp in the signature header
    >>> verify(b"other", sign(b"k", b"{}"), b"{}")
    Traceback (most recent call last):
    ...
    notifiers.adapters.webhook_signature.SignatureError: no v1 signature matches
    """
    timestamp: int | None = None
    candidates: list[str] = []
    for item in (header or "").split(","):
        name, _, value = item.strip().partition("=")
        if name == "t" and value.isdigit() and len(value) <= 12:
            timestamp = int(value)
        elif name == "v1":
            candidates.append(value)
    if timestamp is None:
        raise SignatureError("no t= timestamp in the signature header")
    if not candidates:
        raise SignatureError("no v1= signature in the signature header")
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance:
        raise SignatureError(f"timestamp outside the {tolerance:g} s tolerance")
    expected = _mac(secret, timestamp, body)
    if not any(hmac.compare_digest(expected, candidate) for candidate in candidates):
        raise SignatureError("no v1 signature matches")
    return timestamp

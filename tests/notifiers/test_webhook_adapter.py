"""The webhook channel against a real local HTTP server."""

from __future__ import annotations

import asyncio
import json

from notifiers.adapters.base import Notification
from notifiers.adapters.webhook import WebhookNotifier, parse_retry_after
from tests.support.webhook_receivers import SECRET, Receiver, serve


def message(key: str = "c-1:hqip_alarm:confirmation:cqc:stage") -> Notification:
    return Notification(key=key, recipient="cqc", address="", subject="Confirmed outlier",
                        text="Letter text\n", body={"schema": "vigil.notification/1"},
                        fhir={"resourceType": "Communication"}, case_id="c-1")


async def one_call(receiver: Receiver, *, timeout: float = 5.0):  # type: ignore[no-untyped-def]
    server, url = await serve(receiver)
    notifier = WebhookNotifier("hook", url, SECRET, timeout=timeout, allow_insecure=True)
    try:
        return await notifier.send(message())
    finally:
        receiver.release.set()
        await notifier.close()
        await server.close()


def test_signed_post_with_idempotency_key() -> None:
    receiver = Receiver()
    result = asyncio.run(one_call(receiver))
    assert result.ok and receiver.bad_signatures == 0
    assert receiver.delivered == ["c-1:hqip_alarm:confirmation:cqc:stage"]
    assert receiver.headers[0]["Content-Type"] == "application/json"
    document = json.loads(receiver.bodies[0])
    assert document["notification"] == {"schema": "vigil.notification/1"}
    assert document["fhir"]["resourceType"] == "Communication"
    assert document["text"] == "Letter text\n"


def test_429_is_retryable_with_the_receivers_delay() -> None:
    result = asyncio.run(one_call(Receiver(fail_first=1, fail_status=429, retry_after="7")))
    assert (result.ok, result.reason, result.retryable, result.retry_after) == \
        (False, "http_429", True, 7.0)


def test_5xx_retryable_4xx_permanent() -> None:
    assert asyncio.run(one_call(Receiver(fail_first=1, fail_status=503))).retryable
    bad = asyncio.run(one_call(Receiver(fail_first=1, fail_status=400)))
    assert (bad.reason, bad.retryable) == ("http_400", False)


def test_timeout_and_refused_connection_are_retryable() -> None:
    hung = asyncio.run(one_call(Receiver(hang=True), timeout=0.2))
    assert (hung.ok, hung.reason, hung.retryable) == (False, "timeout", True)

    async def refused():  # type: ignore[no-untyped-def]
        notifier = WebhookNotifier("hook", "http://127.0.0.1:9/hook", SECRET, timeout=2,
                                   allow_insecure=True)
        try:
            return await notifier.send(message())
        finally:
            await notifier.close()

    result = asyncio.run(refused())
    assert (result.ok, result.reason, result.retryable) == (False, "connection", True)


def test_retry_after_as_an_http_date() -> None:
    assert parse_retry_after("soon") is None
    assert parse_retry_after("-3") == 0.0

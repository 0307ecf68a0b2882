"""Delivery: exactly once, retries, dead letters, isolation between channels, the sign-off gate."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from notifiers.adapters.base import DeliveryResult, Notification
from notifiers.adapters.channels import build_notifiers
from notifiers.adapters.outbox import OutboxNotifier
from notifiers.adapters.webhook import WebhookNotifier
from notifiers.delivery import Dispatcher, RetryPolicy
from notifiers.log.escalation_log import EscalationLog
from notifiers.recipients import RecipientsConfig, embedded_recipients
from tests.support import log_backends
from tests.support.escalation import NewLog, at, engine, screened_alarm, signal
from tests.support.webhook_receivers import SECRET, Receiver, serve

FAST = RetryPolicy(first_delay=0.01, factor=2.0, max_delay=0.1, deadline=1.0,
                   attempt_timeout=0.25)
# Attempts at the hung receiver time out well after the flaky one has recovered.
ISOLATION = RetryPolicy(first_delay=0.01, factor=2.0, max_delay=0.1, deadline=1.2,
                        attempt_timeout=0.5)
PROVIDERS = ["RXF", "RAJ", "RGT", "RM1", "R0A"]


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def outbox_dispatcher(log: EscalationLog, folder: Path) -> Dispatcher:
    recipients = embedded_recipients(folder)
    return Dispatcher(log, build_notifiers(recipients), recipients, retry=FAST)


def test_outbox_delivers_each_notification_once_across_reruns_and_restarts(
        new_log: NewLog, tmp_path: Path) -> None:
    eng, _ = engine(new_log())
    for code in PROVIDERS:
        eng.receive(signal("alert", entity_id=code))
    report = asyncio.run(outbox_dispatcher(eng.log, tmp_path).dispatch_pending())
    # Each alert to the provider's lead clinician, with its Medical Director copied.
    assert (report.started, report.sent, report.dead_lettered) == (10, 10, 0)
    files = sorted((tmp_path / "lead_clinician").glob("*.json"))
    assert len(files) == 5 and len(list((tmp_path / "lead_clinician").glob("*.txt"))) == 5
    assert len(list((tmp_path / "medical_director").glob("*.json"))) == 5
    record = json.loads(files[0].read_text())
    assert record["body"]["schema"] == "vigil.notification/1"

    again = asyncio.run(outbox_dispatcher(eng.log, tmp_path).dispatch_pending())
    assert again.started == 0  # a fresh dispatcher rebuilds the sent set from the log
    eng.receive(signal("alert", entity_id="RXF", n=999))  # recorded on the open case
    assert outbox_dispatcher(eng.log, tmp_path).pending() == []
    assert len(list(eng.log.entries(kind="notification_sent"))) == 10


# The slowest test of the suite (it waits on timeouts): the stored backends are enough.
@pytest.mark.parametrize("new_log", log_backends.STORED, indirect=True)
def test_flaky_and_hung_webhooks_are_isolated_and_every_attempt_is_logged(
        new_log: NewLog) -> None:
    async def scenario() -> tuple[Receiver, Receiver, EscalationLog, Dispatcher]:
        flaky = Receiver(fail_first=3, fail_status=503)
        hung = Receiver(hang=True)
        flaky_server, flaky_url = await serve(flaky)
        hung_server, hung_url = await serve(hung)
        recipients = RecipientsConfig(
            channels={"trusts": {"type": "webhook"}, "ops": {"type": "webhook"}},
            provider={"default": [{"channel": "trusts"}]},
            operator=[{"channel": "ops"}])
        notifiers = {"trusts": WebhookNotifier("trusts", flaky_url, SECRET, timeout=5,
                                               allow_insecure=True),  # local http receivers
                     "ops": WebhookNotifier("ops", hung_url, SECRET, timeout=5,
                                            allow_insecure=True)}
        eng, _ = engine(new_log())
        for code in PROVIDERS:
            eng.receive(signal("alert", entity_id=code))
        for region in ("ENG", "WAL"):
            eng.receive(signal("alarm", entity_type="national", entity_id=region))
        dispatcher = Dispatcher(eng.log, notifiers, recipients, retry=ISOLATION)
        try:
            await dispatcher.dispatch_pending()
            # Recovery: run again and after a restart; nothing is sent a second time.
            await dispatcher.dispatch_pending()
            await Dispatcher(eng.log, notifiers, recipients,
                             retry=ISOLATION).dispatch_pending()
        finally:
            hung.release.set()
            await dispatcher.close()
            await flaky_server.close()
            await hung_server.close()
        return flaky, hung, eng.log, dispatcher

    before_sent = sample("vigil_notifications_sent_total", adapter="trusts")
    before_failed = sample("vigil_notifications_failed_total", adapter="trusts",
                           reason="http_503")
    flaky, _hung, log, _ = asyncio.run(scenario())

    # Exactly once per notification (each alert to a lead clinician and a Medical Director),
    # after three failures.
    assert flaky.bad_signatures == 0
    assert len(flaky.delivered) == 10 and len(set(flaky.delivered)) == 10
    assert flaky.calls == 13
    attempts = [e.payload for e in log.entries(kind="notification_attempt")]
    trusts = [a for a in attempts if a["channel"] == "trusts"]
    assert len(trusts) == 13 and sum(not a["ok"] for a in trusts) == 3
    assert all(a["reason"] == "http_503" for a in trusts if not a["ok"])

    # The hung receiver was given up on, attempt by attempt, and dead-lettered.
    dead = list(log.entries(kind="dead_letter"))
    assert len(dead) == 2 and {d.payload["channel"] for d in dead} == {"ops"}
    ops = [a for a in attempts if a["channel"] == "ops"]
    assert all(a["reason"] == "timeout" for a in ops) and len(ops) >= 4
    assert all(d.payload["attempts"] >= 2 for d in dead)
    # ... and it did not hold the others up: every trust delivery finished before the
    # first attempt at the hung receiver had even timed out.
    sent = [e.seq for e in log.entries(kind="notification_sent")]
    first_hung_attempt = min(e.seq for e in log.entries(kind="notification_attempt")
                             if e.payload["channel"] == "ops")
    assert len(sent) == 10 and max(sent) < first_hung_attempt

    assert sample("vigil_notifications_sent_total", adapter="trusts") - before_sent == 10
    assert sample("vigil_notifications_failed_total", adapter="trusts",
                  reason="http_503") - before_failed == 3
    assert sample("vigil_notifications_dead_lettered_total", adapter="ops",
                  reason="timeout") >= 2


def test_retry_after_is_honoured_and_permanent_failures_dead_letter_at_once(
        new_log: NewLog) -> None:
    async def scenario() -> EscalationLog:
        slow_down = Receiver(fail_first=1, fail_status=429, retry_after="0.05")
        refuses = Receiver(fail_first=99, fail_status=422)
        s1, u1 = await serve(slow_down)
        s2, u2 = await serve(refuses)
        recipients = RecipientsConfig(
            channels={"a": {"type": "webhook"}, "b": {"type": "webhook"}},
            provider={"default": [{"channel": "a"}]}, operator=[{"channel": "b"}])
        notifiers = {"a": WebhookNotifier("a", u1, SECRET, allow_insecure=True),
                     "b": WebhookNotifier("b", u2, SECRET, allow_insecure=True)}
        eng, _ = engine(new_log())
        eng.receive(signal("alert"))
        eng.receive(signal("alarm", entity_type="national", entity_id="ENG"))
        dispatcher = Dispatcher(eng.log, notifiers, recipients, retry=FAST)
        try:
            await dispatcher.dispatch_pending()
        finally:
            await dispatcher.close()
            await s1.close()
            await s2.close()
        return eng.log

    log = asyncio.run(scenario())
    attempts = [e.payload for e in log.entries(kind="notification_attempt")]
    first = [a for a in attempts if a["channel"] == "a"]
    assert sorted((a["ok"], a["reason"], a["retry_in"]) for a in first) == [
        (False, "http_429", 0.05), (True, "ok", None), (True, "ok", None)]
    (dead,) = log.entries(kind="dead_letter")
    assert (dead.payload["channel"], dead.payload["attempts"], dead.payload["reason"]) == \
        ("b", 1, "http_422")


class Clumsy:
    """A channel with a bug on its first call."""

    name = "clumsy"

    def __init__(self) -> None:
        self.calls = 0

    async def send(self, message: Notification) -> DeliveryResult:
        self.calls += 1
        if self.calls == 1:
            raise RuntimeError("bug")
        return DeliveryResult.sent()


def test_a_channel_that_raises_is_retried_like_any_failure(new_log: NewLog) -> None:
    eng, _ = engine(new_log())
    eng.receive(signal("alert"))
    recipients = RecipientsConfig(channels={"c": {"type": "custom"}},
                                  provider={"default": [{"channel": "c"}]})
    clumsy = Clumsy()
    report = asyncio.run(Dispatcher(eng.log, {"c": clumsy}, recipients,
                                    retry=FAST).dispatch_pending())
    assert report.sent == 2 and clumsy.calls == 3  # lead clinician and Medical Director
    reasons = [e.payload["reason"] for e in eng.log.entries(kind="notification_attempt")]
    assert sorted(reasons) == ["exception", "ok", "ok"]


def test_regulator_requests_without_a_prior_signoff_are_blocked(
        new_log: NewLog, tmp_path: Path) -> None:
    log = new_log()
    forged = {"key": "c-x:hqip_alarm:confirmation:cqc:stage", "recipient": "cqc",
              "purpose": "stage", "policy": "hqip_alarm", "stage": "confirmation",
              "template": "confirmation", "ods_codes": ["RXF"], "signoff": None,
              "message": {"subject": "s", "text": "t", "body": {}, "fhir": None}}
    log.append("notification_requested", forged, at=at("2027-01-04 09:00"), case_id="c-x")
    dispatcher = outbox_dispatcher(log, tmp_path)
    report = asyncio.run(dispatcher.dispatch_pending())
    assert (report.blocked, report.started) == (1, 0)
    assert not (tmp_path / "cqc").exists()
    (blocked,) = log.entries(kind="notification_blocked")
    assert blocked.payload["key"] == forged["key"]
    asyncio.run(dispatcher.dispatch_pending())
    assert len(list(log.entries(kind="notification_blocked"))) == 1  # logged once


def test_provider_targets_by_ods_code(new_log: NewLog, tmp_path: Path) -> None:
    recipients = RecipientsConfig(
        channels={"out": {"type": "outbox", "directory": str(tmp_path)}},
        provider={"default": [{"channel": "out", "address": "other-trusts"}],
                  "by_ods": {"RXF": [{"channel": "out", "address": "rxf-lead"}]}})
    eng, _ = engine(new_log())
    eng.receive(signal("alert", entity_id="RXF05"))  # a site of trust RXF
    eng.receive(signal("alert", entity_id="RAJ"))
    notifiers = {"out": OutboxNotifier("out", tmp_path)}
    asyncio.run(Dispatcher(eng.log, notifiers, recipients).dispatch_pending())
    # A list serves every role of its provider: the lead clinician and the copy.
    assert len(list((tmp_path / "rxf-lead").glob("*.json"))) == 2
    assert len(list((tmp_path / "other-trusts").glob("*.json"))) == 2


def test_a_role_without_a_target_is_dead_lettered_not_dropped(
        new_log: NewLog, tmp_path: Path) -> None:
    recipients = RecipientsConfig(channels={"out": {"type": "outbox", "directory": str(tmp_path)}},
                                  operator=[{"channel": "out"}])  # no provider target
    eng, _ = engine(new_log())
    eng.receive(signal("alert"))
    dispatcher = Dispatcher(eng.log, {"out": OutboxNotifier("out", tmp_path)}, recipients)
    asyncio.run(dispatcher.dispatch_pending())
    asyncio.run(dispatcher.dispatch_pending())
    dead = list(eng.log.entries(kind="dead_letter"))
    assert [(d.payload["reason"], d.payload["recipient"]) for d in dead] == [
        ("no_target", "lead_clinician"), ("no_target", "medical_director")]


def test_the_service_loop_ticks_and_delivers_until_stopped(new_log: NewLog, tmp_path: Path) -> None:
    from notifiers.escalation_service import run_escalation

    async def scenario() -> None:
        eng, clock = engine(new_log(), "2026-12-14 10:00")
        screened_alarm(eng)
        clock.set(at("2027-01-22 09:00"))  # past the response deadline
        recipients = embedded_recipients(tmp_path)
        dispatcher = Dispatcher(eng.log, build_notifiers(recipients), recipients, retry=FAST)
        stop = asyncio.Event()
        service = asyncio.create_task(run_escalation(eng, dispatcher, stop, tick_every=0.05,
                                                     poll_every=0.02))
        for _ in range(100):
            if len(list((tmp_path / "lead_clinician").glob("*.json"))) == 2:
                break
            await asyncio.sleep(0.02)
        stop.set()
        await service

    asyncio.run(scenario())
    names = sorted(p.name for p in (tmp_path / "lead_clinician").glob("*.json"))
    assert [n.rsplit("_", 1)[-1] for n in names] == ["reminder-1.json", "stage.json"]


def test_a_hung_address_holds_only_its_own_queue(new_log: NewLog) -> None:
    """One webhook channel, two addresses: the default providers' URL never answers, RXF's
    does. RXF's delivery completes while every attempt at the hung URL is still in flight
    (their timeout is far beyond the wait), though it was requested after them."""

    async def scenario() -> tuple[Receiver, Receiver, EscalationLog, str]:
        hung, good = Receiver(hang=True), Receiver()
        hung_server, hung_url = await serve(hung)
        good_server, good_url = await serve(good)
        recipients = RecipientsConfig(
            channels={"trusts": {"type": "webhook"}},
            provider={"default": [{"channel": "trusts", "address": hung_url}],
                      "by_ods": {"RXF": [{"channel": "trusts", "address": good_url}]}})
        notifiers = {"trusts": WebhookNotifier("trusts", hung_url, SECRET, timeout=600,
                                                allow_insecure=True)}
        eng, _ = engine(new_log())
        for code in ("RAJ", "RGT", "RM1", "R0A", "RXF"):  # the hung address's requests first
            eng.receive(signal("alert", entity_id=code))
        dispatcher = Dispatcher(eng.log, notifiers, recipients, concurrency=1,
                                retry=RetryPolicy(attempt_timeout=600, deadline=3600))
        try:
            await dispatcher.dispatch_pending(wait=False)
            deadline = asyncio.get_running_loop().time() + 60
            while len(good.delivered) < 2:  # a condition with a deadline, not a timing
                assert asyncio.get_running_loop().time() < deadline, "RXF was held up"
                await asyncio.sleep(0.05)
        finally:
            hung.release.set()
            await dispatcher.close()
            await hung_server.close()
            await good_server.close()
        return hung, good, eng.log, good_url

    hung, good, log, good_url = asyncio.run(scenario())
    # RXF's lead clinician and Medical Director; one slot: one hung attempt.
    assert len(good.delivered) == 2 and hung.calls == 1
    sent = [e.payload for e in log.entries(kind="notification_sent")]
    assert [p["address"] for p in sent] == [good_url] * 2

"""The case-workload gauges Grafana shows (open, awaiting sign-off, overdue, by route and
lane) follow the engine's case book as its decisions change it."""

from __future__ import annotations

from prometheus_client import REGISTRY

from notifiers import metrics
from notifiers.log.escalation_log import open_log
from tests.support.escalation import at, engine, screened_alarm


def gauge(name: str, route: str, lane: str = "main") -> float | None:
    """The value Prometheus would scrape."""
    return REGISTRY.get_sample_value(name, {"route": route, "lane": lane})


def test_gauges_follow_a_case_through_reminder_and_signoff() -> None:
    eng, clock = engine(open_log("memory://"), "2026-12-14 10:00")
    case_id = screened_alarm(eng)
    route = eng.case(case_id).route or eng.case(case_id).policy_name
    assert metrics.case_workload(eng.book, clock.now()) == {(route, "main"): (1, 0, 0)}
    assert gauge("vigil_cases_open", route) == 1
    assert gauge("vigil_cases_overdue", route) == 0
    # the 25-working-day response deadline passes: a reminder goes out, the case is overdue
    eng.tick(clock.set(at("2027-01-22 00:00")))
    assert gauge("vigil_cases_overdue", route) == 1
    eng.tick(clock.set(at("2027-01-30 00:00")))  # escalated to the audit's review
    eng.act(case_id, "confirm", by="Audit Lead", at=clock.set(at("2027-02-10 11:00")))
    assert metrics.case_workload(eng.book, clock.now()) == {(route, "main"): (1, 1, 0)}
    assert gauge("vigil_cases_awaiting_signoff", route) == 1
    eng.act(case_id, "signoff", by="Dr Sign", at=clock.set(at("2027-03-22 10:00")))
    assert gauge("vigil_cases_awaiting_signoff", route) == 0
    eng.act(case_id, "withdraw", by="Audit Lead", note="data error found",
            at=clock.set(at("2027-03-23 10:00")))
    assert metrics.case_workload(eng.book, clock.now()) == {}
    assert gauge("vigil_cases_open", route) == 0  # a route with no cases left reads 0

"""ImplantExposure: implant-years accrued in event time, feeding a Poisson CUSUM."""

from __future__ import annotations

import json
import random

import pytest

from signals.implant_exposure import SECONDS_PER_YEAR, ImplantExposure
from signals.observations import Exposure
from signals.poisson_cusum import PoissonCusum

YEAR = SECONDS_PER_YEAR
DAY = 24 * 3600.0


def test_accrual_is_units_at_risk_times_years():
    device = ImplantExposure()
    device.implant(0.0, units=3)
    assert device.advance(0.5 * YEAR) == pytest.approx(1.5)
    device.revise(1.0 * YEAR)  # 3 × 0.5 more, then 2 at risk
    device.implant(1.0 * YEAR)  # 3 at risk
    device.advance(1.0 * YEAR + 73.05 * DAY)  # 0.2 years
    assert device.at_risk == 3
    assert device.implant_years == pytest.approx(1.5 + 1.5 + 0.6)
    assert device.take() == pytest.approx(Exposure(1, 3.6))
    assert device.take() == (0, 0.0)


def test_the_first_event_starts_the_clock():
    device = ImplantExposure()
    assert device.advance(1e9) == 0.0
    device.implant(1e9 + YEAR)
    assert device.implant_years == 0.0  # nothing was at risk before the implant
    assert device.on_tick(1e9 + 3 * YEAR) == pytest.approx((0, 2.0))


def test_on_methods_return_what_accrued_since_the_previous_update():
    device = ImplantExposure()
    increments = [
        device.on_implant(0.0, units=10),
        device.on_revision(0.25 * YEAR),
        device.on_implant(0.5 * YEAR, units=5),
        device.on_tick(1.0 * YEAR),
        device.on_revision(1.0 * YEAR),
    ]
    assert [i.events for i in increments] == [0, 1, 0, 0, 1]
    assert [round(i.exposure, 9) for i in increments] == [0.0, 2.5, 2.25, 7.0, 0.0]
    assert (device.at_risk, device.implanted, device.revised) == (13, 15, 2)


def test_a_revision_of_a_unit_not_at_risk_counts_but_keeps_the_at_risk_count():
    device = ImplantExposure()
    device.implant(0.0, units=2)
    assert device.on_revision(YEAR, was_at_risk=False) == pytest.approx((1, 2.0))
    assert device.at_risk == 2 and device.unmatched_revisions == 1
    empty = ImplantExposure()
    assert empty.on_revision(0.0).events == 1  # nothing implanted: unmatched, not negative
    assert empty.at_risk == 0 and empty.unmatched_revisions == 1


def test_a_late_event_is_applied_at_the_latest_time():
    device = ImplantExposure()
    device.implant(0.0)
    device.advance(2 * YEAR)
    device.implant(1 * YEAR)  # late: counted from year 2, exposure never runs backwards
    assert device.late_events == 1
    assert device.on_tick(3 * YEAR) == pytest.approx((0, 2.0 + 2.0))


def test_update_schedule_does_not_change_the_chart():
    # The same device history fed to two charts: one updated at every event and monthly
    # ticks, one only at revisions (with implants accrued but not handed over).
    rng = random.Random(12)
    events, t = [], 0.0
    for _ in range(400):
        t += rng.expovariate(1 / (10 * DAY))
        events.append(("revise" if rng.random() < 0.3 else "implant", t))
    for rate_ratio in (2.0, 0.5):
        often, rarely = ImplantExposure(), ImplantExposure()
        chart_often = PoissonCusum(benchmark_rate=0.05, rate_ratio=rate_ratio, alarm_h=1e9)
        chart_rarely = PoissonCusum(benchmark_rate=0.05, rate_ratio=rate_ratio, alarm_h=1e9)
        next_tick = 30 * DAY
        for kind, at in events:
            while next_tick < at:
                chart_often.update(often.on_tick(next_tick))
                next_tick += 30 * DAY
            if kind == "implant":
                chart_often.update(often.on_implant(at, units=3))
                rarely.implant(at, units=3)
            else:
                chart_often.update(often.on_revision(at))
                chart_rarely.update(rarely.on_revision(at))
                assert chart_often.statistic == pytest.approx(chart_rarely.statistic, abs=1e-9)
        assert chart_often.exposure + often.pending_exposure == pytest.approx(
            chart_rarely.exposure + rarely.pending_exposure
        )
        assert often.implant_years == pytest.approx(rarely.implant_years)


def test_invalid_inputs_are_rejected():
    with pytest.raises(ValueError):
        ImplantExposure().implant(0.0, units=0)
    with pytest.raises(ValueError):
        ImplantExposure(at_risk=-1)


def test_state_round_trips_through_json():
    device = ImplantExposure()
    device.implant(0.0, units=4)
    device.revise(YEAR)
    device.advance(1.5 * YEAR)
    copy = ImplantExposure.from_state(json.loads(json.dumps(device.to_state())))
    assert copy == device
    assert copy.on_revision(2 * YEAR) == device.on_revision(2 * YEAR)

"""A seeded synthetic registry feed: realistic-looking contract events for demos, the bundled
sample, acceptance tests and benchmarks. Not used by monitoring itself.

Procedures arrive in event-time order; each may implant a device, carry its 30-day outcome
or have it follow later in an ``outcome`` event; devices are revised at a constant hazard;
providers submit monthly data-completeness returns; a sprinkling of invalid lines tests the
dead-letter path. Outliers are injected as odds multipliers (providers, clinicians), revision
rate multipliers (devices) and case ascertainment (providers).

>>> lines = list(synthetic_events(SyntheticRegistry(procedures=5, seed=1)))
>>> len(lines) >= 5, lines[0].startswith('{"event_id":')
(True, True)
"""

from __future__ import annotations

import heapq
import json
import math
import random
import string
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

SYNTHETIC_EVENT_TIMES = {"VIGIL_EVENT_TIME_AHEAD_DAYS": "36500"}
"""The environment a synthetic feed needs wherever it is parsed: it is dated from
2026-01-01 and runs days of event time per second of wall time, so it goes past today and
would be rejected as future-dated (the contract's event-time window)."""


@dataclass(frozen=True, slots=True)
class SyntheticRegistry:
    """What to generate."""

    procedures: int = 3000
    providers: int = 8
    clinicians_per_provider: int = 3
    seed: int = 2026
    registry: str = "ncap-adult-cardiac"
    intercept: float = -3.68
    parsonnet_coefficient: float = 0.077
    minutes_between: tuple[int, int] = (5, 90)
    late_outcome_fraction: float = 0.3
    invalid_fraction: float = 0.01
    provider_odds: dict[str, float] = field(default_factory=dict)
    clinician_odds: dict[str, float] = field(default_factory=dict)
    imd_decile_odds: dict[int, float] = field(default_factory=dict)
    """Odds multipliers by deprivation decile: an inequality to find."""
    devices: int = 0
    """Distinct implant GTINs; 0 means procedures implant nothing."""
    revisions_per_100_years: float = 1.5
    device_rate_ratio: dict[str, float] = field(default_factory=dict)
    submissions: bool = False
    ascertainment: dict[str, float] = field(default_factory=dict)
    """Fraction of its cases a provider submits (default: 0.92–1.0)."""
    start: datetime = datetime(2026, 1, 1, 8, 0, tzinfo=UTC)


def provider_codes(count: int) -> list[str]:
    """Trust-shaped ODS codes: R, a digit, a letter.

    >>> provider_codes(3)
    ['R1A', 'R1B', 'R1C']
    """
    letters = string.ascii_uppercase
    return [f"R{1 + i // 26}{letters[i % 26]}" for i in range(count)]


ICB_CODES = ("QWE", "QOP", "QE1", "QHM", "QMJ", "QKK", "QRV", "QYG", "QUY", "QSL")
"""ICB-shaped ODS codes for synthetic patients (real codes' shape, no real meaning here)."""


def patient_icb(rng: random.Random, provider_index: int) -> str:
    """A synthetic patient's ICB: mostly the ICB of the provider's area, one in five from
    elsewhere (patients cross boundaries for specialist care), from its own random stream
    so that adding it changed no other generated value.

    >>> patient_icb(random.Random(1), 0) in ICB_CODES
    True
    """
    if rng.random() < 0.2:
        return rng.choice(ICB_CODES)
    return ICB_CODES[provider_index % len(ICB_CODES)]


def clinician_codes(provider_index: int, count: int) -> list[str]:
    """GMC-shaped numbers for a provider's clinicians.

    >>> clinician_codes(1, 2)
    ['7000100', '7000101']
    """
    return [f"{7000000 + 100 * provider_index + c}" for c in range(count)]


def device_codes(count: int) -> list[str]:
    """GTIN-14s with valid GS1 check digits.

    >>> device_codes(2)
    ['05060000000009', '05060000000016']
    """
    codes = []
    for i in range(count):
        data = f"0506000000{i:03d}"
        total = sum(int(d) * (3 if k % 2 == 0 else 1) for k, d in enumerate(reversed(data)))
        codes.append(data + str((10 - total % 10) % 10))
    return codes


def nhs_number(rng: random.Random) -> str:
    """A random NHS number with a valid Modulus 11 check digit (999 prefix: test range)."""
    while True:
        body = "999" + "".join(rng.choice(string.digits) for _ in range(6))
        total = sum(int(d) * w for d, w in zip(body, range(10, 1, -1), strict=True))
        check = (11 - total % 11) % 11
        if check != 10:
            return body + str(check)


def synthetic_events(spec: SyntheticRegistry) -> Iterator[str]:
    """JSON lines in event-time order."""
    rng = random.Random(spec.seed)
    icb_rng = random.Random(f"icb-{spec.seed}")
    providers = provider_codes(spec.providers)
    clinicians = {ods: clinician_codes(p, spec.clinicians_per_provider)
                  for p, ods in enumerate(providers)}
    devices = device_codes(spec.devices)
    later: list[tuple[datetime, int, str]] = []  # events due in the future, by time
    monthly: Counter[tuple[str, str]] = Counter()
    sequence = 0
    clock = spec.start
    month = clock.strftime("%Y-%m")
    for i in range(spec.procedures):
        clock += timedelta(minutes=rng.randint(*spec.minutes_between))
        while later and later[0][0] <= clock:
            yield heapq.heappop(later)[2]
        if spec.submissions and clock.strftime("%Y-%m") != month:
            for line in _submissions(month, providers, monthly, clock, spec, rng):
                sequence += 1
                heapq.heappush(later, (clock + timedelta(days=3), sequence, line))
            month = clock.strftime("%Y-%m")
        ods = rng.choice(providers)
        if rng.random() > spec.ascertainment.get(ods, 1.0):
            continue  # a case the provider never submits
        monthly[ods, month] += 1
        gmc = rng.choice(clinicians[ods])
        parsonnet = min(71, int(71 * rng.betavariate(1, 3)))
        imd_decile = rng.randint(1, 10)
        logit = spec.intercept + spec.parsonnet_coefficient * parsonnet
        logit += math.log(spec.provider_odds.get(ods, 1.0) * spec.clinician_odds.get(gmc, 1.0)
                          * spec.imd_decile_odds.get(imd_decile, 1.0))
        died = rng.random() < 1 / (1 + math.exp(-logit))
        episode = f"ep-{spec.seed}-{i}"
        event: dict[str, Any] = {
            "event_id": f"proc-{spec.seed}-{i}",
            "event_type": "procedure",
            "registry": spec.registry,
            "occurred_at": clock.isoformat(),
            "episode_id": episode,
            "provider": {"ods_code": ods},
            "clinician": {"gmc_number": gmc},
            "patient": {
                "nhs_number": nhs_number(rng),
                "age": rng.randint(30, 90),
                "sex": rng.choice("MF"),
                "imd_decile": imd_decile,
                "ethnicity": rng.choice("AAAAABDHJLMNPRSZ"),
                "icb_code": patient_icb(icb_rng, providers.index(ods)),
            },
            "procedure": {"code": "K40", "system": "OPCS-4"},
            "risk_factors": {"parsonnet": parsonnet},
        }
        if devices:
            gtin = rng.choice(devices)
            event["devices"] = [{"gtin": gtin}]
            rate = spec.revisions_per_100_years / 100 * spec.device_rate_ratio.get(gtin, 1.0)
            years = rng.expovariate(rate) if rate > 0 else math.inf
            if years < 50 and not died:
                sequence += 1
                heapq.heappush(later, (clock + timedelta(days=365.25 * years), sequence,
                                       _revision_line(episode, ods, gtin, clock, years, spec)))
        if rng.random() < spec.late_outcome_fraction:
            sequence += 1
            due = clock + timedelta(days=30)
            heapq.heappush(later, (due, sequence, _outcome_line(episode, died, due, spec)))
        else:
            event["outcomes"] = {"death_30d": died}
        yield json.dumps(event)
        if rng.random() < spec.invalid_fraction:
            yield _invalid_line(rng, i, spec, clock, event)
    while later and later[0][0] <= clock + timedelta(days=31):  # pending 30-day outcomes
        line = heapq.heappop(later)[2]
        if '"outcome"' in line:
            yield line


def _submissions(month: str, providers: list[str], monthly: Counter[tuple[str, str]],
                 clock: datetime, spec: SyntheticRegistry, rng: random.Random) -> Iterator[str]:
    for ods in providers:
        submitted = monthly[ods, month]
        fraction = spec.ascertainment.get(ods, rng.uniform(0.92, 1.0))
        expected = max(submitted, round(submitted / fraction)) if fraction else submitted
        yield json.dumps({
            "event_id": f"sub-{spec.seed}-{ods}-{month}",
            "event_type": "submission",
            "registry": spec.registry,
            "occurred_at": (clock + timedelta(days=3)).isoformat(),
            "provider": {"ods_code": ods},
            "period": month,
            "submitted": submitted,
            "expected": expected,
        })


def _revision_line(episode: str, ods: str, gtin: str, implanted: datetime, years: float,
                   spec: SyntheticRegistry) -> str:
    return json.dumps({
        "event_id": f"rev-{episode}",
        "event_type": "revision",
        "registry": spec.registry,
        "occurred_at": (implanted + timedelta(days=365.25 * years)).isoformat(),
        "episode_id": episode,
        "provider": {"ods_code": ods},
        "devices": [{"gtin": gtin}],
    })


def _outcome_line(episode: str, died: bool, due: datetime, spec: SyntheticRegistry) -> str:
    return json.dumps({
        "event_id": f"out-{episode}",
        "event_type": "outcome",
        "registry": spec.registry,
        "occurred_at": due.isoformat(),
        "episode_id": episode,
        "outcomes": {"death_30d": died},
    })


def _invalid_line(rng: random.Random, i: int, spec: SyntheticRegistry, clock: datetime,
                  previous: dict[str, Any]) -> str:
    base: dict[str, Any] = {
        "event_id": f"bad-{spec.seed}-{i}",
        "event_type": "procedure",
        "registry": spec.registry,
        "occurred_at": clock.isoformat(),
        "episode_id": f"bad-ep-{i}",
        "provider": {"ods_code": "R1A"},
        "risk_factors": {"parsonnet": 10},
        "outcomes": {"death_30d": False},
    }
    kind = rng.randrange(5)
    if kind == 0:
        return json.dumps(base)[:-7]  # truncated: malformed JSON
    if kind == 1:
        base["patient"] = {"nhs_number": "9990000001"}  # fails Modulus 11
    elif kind == 2:
        base["clinician"] = {"gmc_number": "12AB"}
    elif kind == 3:
        base["event_type"] = "admission"
    else:
        return json.dumps(previous)  # the procedure sent again: a duplicate event_id
    return json.dumps(base)

"""A seeded synthetic registry feed: realistic-looking contract events for demos, the
bundled sample and benchmarks. Not used by monitoring itself.

>>> lines = list(synthetic_events(SyntheticRegistry(procedures=5, seed=1)))
>>> len(lines) >= 5, lines[0].startswith('{"event_id":')
(True, True)
"""

from __future__ import annotations

import json
import math
import random
import string
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta


@dataclass(frozen=True, slots=True)
class SyntheticRegistry:
    """What to generate. Odds multipliers inject outliers: ``{"R1B": 2.5}``."""

    procedures: int = 3000
    providers: int = 8
    clinicians_per_provider: int = 3
    seed: int = 2026
    registry: str = "ncap-adult-cardiac"
    intercept: float = -3.68
    parsonnet_coefficient: float = 0.077
    late_outcome_fraction: float = 0.3
    invalid_fraction: float = 0.01
    provider_odds: dict[str, float] = field(default_factory=dict)
    clinician_odds: dict[str, float] = field(default_factory=dict)
    start: datetime = datetime(2026, 1, 1, 8, 0, tzinfo=UTC)


def provider_codes(count: int) -> list[str]:
    """Trust-shaped ODS codes: R, a digit, a letter.

    >>> provider_codes(3)
    ['R1A', 'R1B', 'R1C']
    """
    letters = string.ascii_uppercase
    return [f"R{1 + i // 26}{letters[i % 26]}" for i in range(count)]


def nhs_number(rng: random.Random) -> str:
    """A random NHS number with a valid Modulus 11 check digit (999 prefix: test range)."""
    while True:
        body = "999" + "".join(rng.choice(string.digits) for _ in range(6))
        total = sum(int(d) * w for d, w in zip(body, range(10, 1, -1), strict=True))
        check = (11 - total % 11) % 11
        if check != 10:
            return body + str(check)


def synthetic_events(spec: SyntheticRegistry) -> Iterator[str]:
    """JSON lines: procedures (some with outcomes, some followed later by an ``outcome``
    event) and a sprinkling of invalid lines, in event-time order."""
    rng = random.Random(spec.seed)
    providers = provider_codes(spec.providers)
    clinicians = {
        ods: [f"{7000000 + 100 * p + c}" for c in range(spec.clinicians_per_provider)]
        for p, ods in enumerate(providers)
    }
    late: deque[tuple[int, str]] = deque()
    clock = spec.start
    for i in range(spec.procedures):
        clock += timedelta(minutes=rng.randint(5, 90))
        ods = rng.choice(providers)
        gmc = rng.choice(clinicians[ods])
        parsonnet = min(71, int(71 * rng.betavariate(1, 3)))
        logit = spec.intercept + spec.parsonnet_coefficient * parsonnet
        logit += math.log(spec.provider_odds.get(ods, 1.0) * spec.clinician_odds.get(gmc, 1.0))
        died = rng.random() < 1 / (1 + math.exp(-logit))
        episode = f"ep-{spec.seed}-{i}"
        event = {
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
                "imd_decile": rng.randint(1, 10),
            },
            "procedure": {"code": "K40", "system": "OPCS-4"},
            "risk_factors": {"parsonnet": parsonnet},
        }
        if rng.random() < spec.late_outcome_fraction:
            late.append((i + rng.randint(1, 20), json.dumps({"episode": episode, "died": died})))
        else:
            event["outcomes"] = {"death_30d": died}
        yield json.dumps(event)
        while late and late[0][0] <= i:
            _, payload = late.popleft()
            yield _outcome_line(json.loads(payload), clock, spec)
        if rng.random() < spec.invalid_fraction:
            yield _invalid_line(rng, i, spec, clock)
    for _, payload in late:
        yield _outcome_line(json.loads(payload), clock, spec)


def _outcome_line(data: dict[str, object], clock: datetime, spec: SyntheticRegistry) -> str:
    return json.dumps({
        "event_id": f"out-{data['episode']}",
        "event_type": "outcome",
        "registry": spec.registry,
        "occurred_at": clock.isoformat(),
        "episode_id": data["episode"],
        "outcomes": {"death_30d": data["died"]},
    })


def _invalid_line(rng: random.Random, i: int, spec: SyntheticRegistry, clock: datetime) -> str:
    base = {
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
        base["event_id"] = f"proc-{spec.seed}-{i}"  # duplicate of an earlier event
    return json.dumps(base)

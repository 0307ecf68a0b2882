"""A seeded synthetic registry feed with injected outliers, for ``vigil simulate`` and
``vigil demo``.

The feed is contract events (JSON lines, in event-time order) to stdout or a file, or streams them
at ``--rate`` events per second to the events topic, keyed by provider exactly as
``vigil produce`` keys a file (:func:`streams.kafka.producer.event_keys`).

The outliers are put on fixed, named entities so that a demo can say what to expect:

* ``--bad-clinician-odds R``: the second clinician of the third provider has odds of death
  multiplied by R;
* ``--better-provider-odds R``: the sixth provider (modulo the count) has its odds
  multiplied by R (< 1: better than expected);
* ``--bad-device-rate R``: the fourth device revises R times as often as the benchmark;
* ``--low-ascertainment F``: the seventh provider submits only a fraction F of its cases.

>>> spec, outliers = outlier_spec(procedures=10, bad_clinician_odds=3, low_ascertainment=0.5)
>>> outliers
{'bad_clinician': '7000201', 'low_ascertainment': 'R1G'}
>>> spec.clinician_odds, spec.ascertainment
({'7000201': 3.0}, {'R1G': 0.5})
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Iterator
from typing import Any

from streams.kafka.producer import publish
from streams.synthetic import (
    SyntheticRegistry,
    clinician_codes,
    device_codes,
    provider_codes,
)


def outlier_spec(*, procedures: int = 20000, providers: int = 8,
                 clinicians_per_provider: int = 3, devices: int = 6, seed: int = 2026,
                 bad_clinician_odds: float | None = None,
                 better_provider_odds: float | None = None,
                 bad_device_rate: float | None = None,
                 low_ascertainment: float | None = None,
                 late_outcome_fraction: float = 0.3, invalid_fraction: float = 0.01,
                 minutes_between: tuple[int, int] = (5, 90),
                 ) -> tuple[SyntheticRegistry, dict[str, str]]:
    """The registry to generate and the entities that carry each injected outlier."""
    if providers < 1 or clinicians_per_provider < 1:
        raise ValueError("need at least one provider and one clinician per provider")
    codes = provider_codes(providers)
    gtins = device_codes(devices)
    outliers: dict[str, str] = {}
    clinician_odds: dict[str, float] = {}
    provider_odds: dict[str, float] = {}
    device_rate: dict[str, float] = {}
    ascertainment: dict[str, float] = {}
    if bad_clinician_odds is not None:
        gmc = clinician_codes(2 % providers, clinicians_per_provider)[
            1 % clinicians_per_provider]
        clinician_odds[gmc] = float(bad_clinician_odds)
        outliers["bad_clinician"] = gmc
    if better_provider_odds is not None:
        provider_odds[codes[5 % providers]] = float(better_provider_odds)
        outliers["better_provider"] = codes[5 % providers]
    if bad_device_rate is not None and gtins:
        device_rate[gtins[3 % devices]] = float(bad_device_rate)
        outliers["bad_device"] = gtins[3 % devices]
    if low_ascertainment is not None:
        ascertainment[codes[6 % providers]] = float(low_ascertainment)
        outliers["low_ascertainment"] = codes[6 % providers]
    spec = SyntheticRegistry(
        procedures=procedures, providers=providers,
        clinicians_per_provider=clinicians_per_provider, seed=seed,
        minutes_between=minutes_between, late_outcome_fraction=late_outcome_fraction,
        invalid_fraction=invalid_fraction, clinician_odds=clinician_odds,
        provider_odds=provider_odds, devices=devices, device_rate_ratio=device_rate,
        submissions=True, ascertainment=ascertainment,
    )
    return spec, outliers


def add_feed_arguments(p: argparse.ArgumentParser, *, procedures: int = 20000,
                       bad_clinician: float | None = None, better_provider: float | None = None,
                       bad_device: float | None = None,
                       low_ascertainment: float | None = None) -> None:
    """The registry options shared by ``vigil simulate`` and ``vigil demo``."""
    p.add_argument("--procedures", type=int, default=procedures,
                   help=f"procedures to generate (default {procedures})")
    p.add_argument("--providers", type=int, default=8)
    p.add_argument("--clinicians-per-provider", type=int, default=3)
    p.add_argument("--devices", type=int, default=6, help="implant GTINs (0: no implants)")
    p.add_argument("--seed", type=int, default=2026)
    p.add_argument("--late-outcomes", type=float, default=0.3,
                   help="fraction of outcomes arriving 30 days later (default 0.3)")
    p.add_argument("--invalid", type=float, default=0.01,
                   help="fraction of invalid events sprinkled in (default 0.01)")
    p.add_argument("--bad-clinician-odds", type=float, default=bad_clinician,
                   help="odds multiplier of death for one clinician")
    p.add_argument("--better-provider-odds", type=float, default=better_provider,
                   help="odds multiplier for one provider (< 1: better than expected)")
    p.add_argument("--bad-device-rate", type=float, default=bad_device,
                   help="revision rate ratio of one device")
    p.add_argument("--low-ascertainment", type=float, default=low_ascertainment,
                   help="fraction of its cases one provider submits")


def spec_from_args(args: argparse.Namespace) -> tuple[SyntheticRegistry, dict[str, str]]:
    return outlier_spec(
        procedures=args.procedures, providers=args.providers,
        clinicians_per_provider=args.clinicians_per_provider, devices=args.devices,
        seed=args.seed, bad_clinician_odds=args.bad_clinician_odds,
        better_provider_odds=args.better_provider_odds,
        bad_device_rate=args.bad_device_rate, low_ascertainment=args.low_ascertainment,
        late_outcome_fraction=args.late_outcomes, invalid_fraction=args.invalid)


async def stream_events(settings: Any, lines: Iterator[str], rate: float, *,
                        seconds: float | None = None, stop: asyncio.Event | None = None) -> int:
    """Publish ``lines`` to the events topic at about ``rate`` per second, keyed by provider;
    return how many were sent. Stops at the end of ``lines``, after ``seconds`` or when
    ``stop`` is set."""
    return await publish(settings, (line.encode() for line in lines), rate=rate,
                         seconds=seconds, stop=stop)

"""Issue 13, item 7: the demo shows signal, not noise.

Five minutes of ``vigil demo`` (its feed at its default 200 events/s: 60,000 events, about
four years of event time) replayed through the demo's config and the bundled rules — the
pipeline and the escalation engine the live demo runs, in the same canonical order. Every
injected outlier is flagged, and no in-control entity reaches a formal case: an alarm
opens a case in screening, written to the registry's analysts only, and none reaches the
formal process without an analyst's confirmation.
"""

from __future__ import annotations

import itertools
import json
from collections import Counter
from pathlib import Path

import structlog

from notifiers.replay_escalation import escalate_replay_outputs
from notifiers.rules import default_rules_path
from streams.contract.pseudonym import Pseudonymiser
from streams.demo import demo_config_path
from streams.pipeline.config import load_config
from streams.pipeline.core import Pipeline
from streams.pipeline.replay import replay
from streams.synthetic import synthetic_events
from streams.synthetic_feed import outlier_spec

FIVE_MINUTES = 200 * 300


def test_five_minutes_of_the_demo_flag_every_outlier_and_write_to_no_one_else(
        tmp_path: Path) -> None:
    structlog.reset_defaults()
    spec, outliers = outlier_spec(procedures=1_000_000, bad_clinician_odds=3.0,
                                  better_provider_odds=0.4, bad_device_rate=4.0,
                                  low_ascertainment=0.55)
    lines = [line.encode() for line in itertools.islice(synthetic_events(spec), FIVE_MINUTES)]
    out = tmp_path / "replay"
    replay(lines, Pipeline(load_config(demo_config_path())), out, Pseudonymiser(b"k" * 32))
    signals = [json.loads(x) for x in (out / "signals.jsonl").read_text().splitlines()]
    flagged = {s["entity_id"] for s in signals if s["level"] == "alarm"}
    print("injected:", outliers)
    assert set(outliers.values()) <= flagged, set(outliers.values()) - flagged
    # Which entities an injected outlier explains: its own charts and, for the outcome
    # outliers (a clinician's, a provider's), that provider's charts and its clinicians'.
    outcome_outliers = {outliers["bad_clinician"], outliers["better_provider"]}
    providers = {s["provider"] for s in signals if s["entity_id"] in outcome_outliers
                 and s.get("provider")} | {outliers["better_provider"]}
    explained = set(outliers.values()) | {s["entity_id"] for s in signals
                                          if s["metric"] == "death_30d"
                                          and s.get("provider") in providers}
    noise = Counter(s["entity_id"] for s in signals
                    if s["level"] == "alarm" and s["entity_id"] not in explained
                    and s["entity_id"] not in {"national"})
    print("in-control entities with an alarm:", dict(noise))
    escalation = escalate_replay_outputs(out, default_rules_path())
    print(escalation.line())
    # What the outbox holds, by policy and stage: an alarm's case starts in screening, to
    # the operator only; nothing of the formal (HQIP) process reaches a provider unless an
    # analyst confirms the case, which no one does here.
    written = Counter()
    for path in (out / "outbox").glob("*/*.json"):
        _, policy, stage, recipient = json.loads(path.read_text())["key"].split(":")[:4]
        written[policy, stage, recipient] += 1
    print("notifications by policy, stage, recipient:", dict(sorted(written.items())))
    formal = {k: n for k, n in written.items()
              if k[0] in {"hqip_alarm", "clinician_alarm"} and k[1] != "screening"}
    assert formal == {}
    assert written["hqip_alarm", "screening", "operator"] > 0
    assert escalation.in_screening > 0
    # In-control entities reaching a case at all (in screening): few, for four years of
    # event time and 80-odd charts at a 5% false-alarm probability a year each.
    assert len(noise) <= 15

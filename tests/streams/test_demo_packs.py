"""``vigil demo``'s look-back wiring, without its broker: the feed recorded as the demo
records it (``recorded_feed`` into ``events.jsonl``), the demo's metric config and pack
source, and the bundled rules to an outbox. An alarm of the injected bad clinician's
provider, confirmed by an analyst, gives a preliminary notice with its pack as a file
beside it."""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
from pathlib import Path

from notifiers.escalation import build_escalation
from notifiers.rules import default_rules_path
from streams.contract.pseudonym import Pseudonymiser
from streams.demo import EVENTS_FILE, demo_config_path, recorded_feed, worker_env
from streams.lookback.source import configured_pack_source
from streams.lookback.trace import ChartKey, trace_chart
from streams.pipeline.config import load_config
from streams.pipeline.core import Pipeline
from streams.pipeline.replay import canonical_events
from streams.settings import VigilSettings
from streams.synthetic import provider_codes, synthetic_events
from streams.synthetic_feed import outlier_spec
from tests.support.escalation import ANALYST, at

LINES = 8000
"""About seven months of event time: past the demo config's baseline (to 2026-04-01) and
the first alarm of the bad clinician's provider."""


def test_a_demo_notice_has_its_pack_beside_it_in_the_outbox(tmp_path: Path) -> None:
    spec, outliers = outlier_spec(procedures=1_000_000, bad_clinician_odds=3.0,
                                  better_provider_odds=0.4, bad_device_rate=4.0,
                                  low_ascertainment=0.55)
    events = tmp_path / EVENTS_FILE
    with events.open("w", encoding="utf-8") as file:
        sent = list(recorded_feed(itertools.islice(synthetic_events(spec), LINES), file))
    assert events.read_text(encoding="utf-8").splitlines() == sent  # every line, in order

    pipeline = Pipeline(load_config(demo_config_path()), VigilSettings().join_window())
    with events.open("rb") as lines:
        ordered = canonical_events(lines, Pseudonymiser.ephemeral())
    provider = provider_codes(8)[2]  # the third provider: the bad clinician's
    assert outliers["bad_clinician"].startswith("70002")
    trace = trace_chart(ordered, pipeline,
                        ChartKey("death_30d", "provider", provider, "ra_cusum_or2"))
    alarm = next(s for s in trace.signals if s.level.value == "alarm")

    escalation = build_escalation("memory://", default_rules_path(), outbox=tmp_path / "outbox",
                                  packs=configured_pack_source(events, pipeline))
    when = at("2026-12-01 09:00")
    case_id = escalation.engine.receive(alarm, at=when).case_ids[0]
    escalation.engine.act(case_id, "confirm", by=ANALYST, at=when)
    asyncio.run(escalation.dispatcher.dispatch_pending())

    notices = sorted((tmp_path / "outbox").rglob("*preliminary_notice*.json"))
    assert notices
    for notice in notices:
        record = json.loads(notice.read_text())["body"]["look_back_pack"]
        assert record["attached"], record
        beside = notice.parent / f"{notice.stem}.{record['filename']}"
        found = beside if beside.is_file() else next(notice.parent.glob(
            f"*{record['filename']}"))
        assert hashlib.sha256(found.read_bytes()).hexdigest() == record["sha256"]


def test_the_demo_worker_gets_the_events_file(tmp_path: Path) -> None:
    settings = VigilSettings(bootstrap_servers="127.0.0.1:1", app_id="d")
    env = worker_env(settings, 6066, "sqlite:///x.db", "t" * 32, events=tmp_path / "e.jsonl")
    assert env["VIGIL_LOOKBACK_EVENTS"] == str(tmp_path / "e.jsonl")

"""Log entry kinds are an enum stored as the same strings: hashes do not change."""

from __future__ import annotations

from datetime import UTC, datetime

from notifiers.log.chain import GENESIS_HASH, canonical_json, next_entry
from notifiers.log.kinds import LogKind
from tests.support.escalation import NewLog, engine, signal

T = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def test_an_entry_hashes_the_same_whether_its_kind_is_the_enum_or_the_string() -> None:
    for kind in LogKind:
        by_enum = next_entry(0, GENESIS_HASH, kind, {"n": 1}, T, case_id="c1")
        by_text = next_entry(0, GENESIS_HASH, kind.value, {"n": 1}, T, case_id="c1")
        assert type(by_enum.kind) is str and by_enum.kind == kind.value
        assert by_enum.hash == by_text.hash
        assert canonical_json(by_enum.fields()) == canonical_json(by_text.fields())


def test_every_kind_the_engine_writes_is_a_log_kind(new_log: NewLog) -> None:
    eng, _ = engine(new_log())
    case_id = eng.receive(signal("alarm")).case_ids[0]
    eng.receive(signal("alert", entity_id="RAJ"))
    eng.act(case_id, "acknowledge", by="Dr A. Lead")
    eng.tick(datetime(2027, 6, 1, tzinfo=UTC))
    written = {entry.kind for entry in eng.log.entries()}
    assert written <= set(LogKind)
    assert {LogKind.RULES_VERSION, LogKind.SIGNAL_RECEIVED, LogKind.CASE_OPENED} <= written
    assert eng.log.verify().ok

"""Builders of contract events for tests."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

START = datetime(2020, 1, 1, 9, 0, tzinfo=UTC)


def procedure(event_id: str, *, episode: str | None = None, ods: str = "RXF",
              gmc: str | None = "1234567", parsonnet: float = 10, died: bool | None = None,
              day: float = 0, registry: str = "ncap-adult-cardiac",
              **extra: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "event_id": event_id,
        "event_type": "procedure",
        "registry": registry,
        "occurred_at": (START + timedelta(days=day)).isoformat(),
        "episode_id": episode or f"ep-{event_id}",
        "provider": {"ods_code": ods},
        "risk_factors": {"parsonnet": parsonnet},
    }
    if gmc is not None:
        event["clinician"] = {"gmc_number": gmc}
    if died is not None:
        event["outcomes"] = {"death_30d": died}
    event.update(extra)
    return event


def outcome(event_id: str, episode: str, died: bool, *, day: float = 0,
            registry: str = "ncap-adult-cardiac") -> dict[str, Any]:
    return {
        "event_id": event_id,
        "event_type": "outcome",
        "registry": registry,
        "occurred_at": (START + timedelta(days=day)).isoformat(),
        "episode_id": episode,
        "outcomes": {"death_30d": died},
    }


def write_jsonl(path: Path, events: Iterable[dict[str, Any] | str]) -> Path:
    with path.open("w") as handle:
        for event in events:
            handle.write((event if isinstance(event, str) else json.dumps(event)) + "\n")
    return path


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

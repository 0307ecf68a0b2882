"""No NHS number from the input appears in any output file, log line or console output."""

from __future__ import annotations

import json
import os
import random
import re
import subprocess
import sys
from pathlib import Path

from streams.synthetic import nhs_number
from tests.support.configs import EXAMPLE as CONFIG_EXAMPLE
from tests.support.configs import SAMPLE
from tests.support.events import outcome, procedure, write_jsonl


def test_nhs_numbers_never_leave_ingest(tmp_path):
    rng = random.Random(7)
    numbers = [nhs_number(rng) for _ in range(40)]
    lines: list[dict | str] = []
    for i, nhs in enumerate(numbers):
        patient = {"nhs_number": nhs if i % 2 else f"{nhs[:3]} {nhs[3:6]} {nhs[6:]}",
                   "age": 70, "sex": "F"}
        if i % 5 == 0:
            lines.append(procedure(f"e{i}", episode=f"ep{i}", patient=patient))
            lines.append(outcome(f"o{i}", f"ep{i}", died=bool(i % 3)))
        elif i % 5 == 1:  # rejected for another reason: the dead letter must not leak it
            lines.append(procedure(f"e{i}", gmc="12", patient=patient, died=True))
        elif i % 5 == 2:  # malformed JSON around an NHS number
            lines.append(json.dumps(procedure(f"e{i}", patient=patient))[:-20])
        else:
            lines.append(procedure(f"e{i}", died=bool(i % 2), patient=patient))
    bad_check = numbers[0][:9] + str((int(numbers[0][9]) + 1) % 10)  # fails Modulus 11
    lines.append(procedure("bad", patient={"nhs_number": bad_check}, died=True))
    lines.append('{"patient": {"nhs_number": ' + numbers[3] + ', "x": [')
    events = write_jsonl(tmp_path / "events.jsonl", lines)
    config = SAMPLE
    out = tmp_path / "out"
    env = {**os.environ, "VIGIL_LOG_LEVEL": "DEBUG",
           "VIGIL_HMAC_KEY": "test-key-0123456789-4e7a1c9b5d2f8e30"}
    result = subprocess.run(
        [sys.executable, "-m", "streams.cli.main", "replay", str(events), "--config", str(config),
         "--out", str(out)],
        capture_output=True, text=True, env=env, check=True,
    )
    texts = {"stdout": result.stdout, "stderr": result.stderr}
    for path in Path(out).rglob("*"):
        texts[str(path)] = path.read_text()
    assert json.loads(result.stdout.splitlines()[-1])["rejected"] >= 17
    assert "event_rejected" in result.stderr  # the logs were really written
    digits_only = {name: re.sub(r"[ -]", "", text) for name, text in texts.items()}
    for nhs in [*numbers, bad_check]:
        for name, text in digits_only.items():
            assert nhs not in text, f"an NHS number leaked into {name}"


def _forms(nhs: str) -> list[str]:
    """The ways an extract writes an NHS number."""
    return [nhs, f"{nhs[:3]} {nhs[3:6]} {nhs[6:]}", f"{nhs[:3]}.{nhs[3:6]}.{nhs[6:]}",
            f"{nhs[:3]}-{nhs[3:6]}-{nhs[6:]}"]


def test_nhs_numbers_in_identifiers_never_reach_outputs(tmp_path):
    # Before the privacy screen, event_id and episode_id were kept verbatim: an NHS number
    # in them reached signals.jsonl, monitors.jsonl, rejected.jsonl, the escalation log,
    # the outbox and the logs.
    from notifiers.rules import default_rules_path

    rng = random.Random(11)
    numbers = [nhs_number(rng) for _ in range(60)]
    lines: list[dict | str] = []
    for i, nhs in enumerate(numbers):
        forms = _forms(nhs)
        # The outcome names the episode in another written form: the join must still hold.
        lines.append(procedure(f"ev-{forms[i % 4]}", episode=f"EP/{forms[i % 4]}",
                               parsonnet=5, lot=f"LOT {forms[(i + 1) % 4]}",
                               devices=[{"gtin": "05012345678900", "lot": forms[i % 4]}]))
        lines.append(outcome(f"out-{forms[(i + 2) % 4]}", f"EP/{forms[(i + 1) % 4]}",
                             died=i % 3 != 2))
    # Rejected lines: the reason and the kept line must not leak the number either.
    lines.append(outcome(f"o-{numbers[0]}", "EP-unknown", died=True))  # unknown_episode
    lines.append(json.dumps(procedure(f"e-{numbers[1]}", registry="other")))
    lines.append({**procedure("u1"), "event_type": numbers[2]})  # unknown event_type
    lines.append({**procedure("k1"), "risk_factors": {"parsonnet": 1, numbers[3]: [1]}})
    lines.append('{"event_id": "\\u003' + numbers[4][0] + numbers[4][1:] + '", "x": [')
    lines.append('{"event_id": "' + _forms(numbers[5])[2] + '", "x": [')
    events = write_jsonl(tmp_path / "events.jsonl", lines)
    config = tmp_path / "config.yaml"
    config.write_text(CONFIG_EXAMPLE)
    out = tmp_path / "out"
    env = {**os.environ, "VIGIL_LOG_LEVEL": "DEBUG",
           "VIGIL_HMAC_KEY": "test-key-0123456789-4e7a1c9b5d2f8e30"}
    result = subprocess.run(
        [sys.executable, "-m", "streams.cli.main", "replay", str(events), "--config", str(config),
         "--out", str(out), "--escalate", str(default_rules_path())],
        capture_output=True, text=True, env=env, check=True,
    )
    signals = [json.loads(line) for line in (out / "signals.jsonl").read_text().splitlines()]
    assert signals and all(s["event_id"].startswith("ev-p:") for s in signals)
    assert all(s["episode_id"].startswith("EP/p:") for s in signals)
    rejected = [json.loads(line) for line in (out / "rejected.jsonl").read_text().splitlines()]
    assert len(rejected) == 6, rejected
    assert (out / "escalation.db").exists()
    texts = {"stdout": result.stdout, "stderr": result.stderr}
    for path in Path(out).rglob("*"):
        if path.is_file():
            texts[str(path)] = path.read_bytes().decode("utf-8", "replace")
    digits_only = {name: re.sub(r"[ .\-]", "", text) for name, text in texts.items()}
    for nhs in numbers:
        for name, text in digits_only.items():
            assert nhs not in text, f"an NHS number leaked into {name}"

"""Every way a user can get a command wrong ends in exit 2 and one line naming what is
wrong, never a traceback; ``vigil … | head`` ends quietly. Each case runs the real entry
point in its own process, as a shell would."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from notifiers.log.chain import LogItem
from notifiers.log.escalation_log import open_log
from notifiers.rules import default_rules_path
from streams.bundled_samples import sample_paths
from streams.cli.main import COMMANDS
from streams.kafka.embedded_broker import free_port

ROOT = Path(__file__).resolve().parents[2]
EVENTS, CONFIG = sample_paths()

# The smallest command line each command accepts (its settings are read before it runs).
PARSEABLE = {
    "replay": ["replay"], "schema": ["schema"], "run": ["run", "--config", "c.yaml"],
    "produce": ["produce", "events.jsonl"], "config": ["config", "check", "--config", "c.yaml"],
    "simulate": ["simulate"], "demo": ["demo"],
    "funnel": ["funnel", "out", "--metric", "m"],
    "fit-risk-model": ["fit-risk-model", "--events", "e", "--config", "c", "--metric", "m",
                       "--until", "2024-01-01"],
    "arl": ["arl", "--h", "4"], "calibrate": ["calibrate"],
    "budget": ["budget", "--config", "c.yaml", "--events", "e.jsonl"],
    "export": ["export", "csv"],
    "lookback": ["lookback", "--events", "e.jsonl", "--config", "c.yaml", "--signal", "s",
                 "--out", "o"],
    "report": ["report", "--events", "e.jsonl", "--config", "c.yaml", "--out", "o"],
    "audit": ["audit", "verify"],
    "rules": ["rules", "check"], "case": ["case", "list"],
}


def vigil(argv: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("VIGIL_")}
    environment.update(PYTHONPATH=str(ROOT), **env)
    return subprocess.run([sys.executable, "-m", "streams.cli.main", *argv], cwd=cwd,
                          env=environment, capture_output=True, text=True, timeout=120,
                          check=False)


def cases(tmp: Path) -> dict[str, tuple[list[str], dict[str, str], str]]:
    """name → (argv, environment, what the message must say)."""
    (tmp / "a-file").write_text("not a folder\n")
    closed = free_port()  # nothing listens there
    return {
        "out names a file": (["replay", str(EVENTS), "--config", str(CONFIG), "--out",
                              "a-file"], {}, "--out a-file is a file"),
        "bad VIGIL_PARTITIONS": (["replay"], {"VIGIL_PARTITIONS": "abc"},
                                 "VIGIL_PARTITIONS: Input should be a valid integer"),
        "produce to a closed port": (["produce", str(EVENTS)],
                                     {"VIGIL_BOOTSTRAP_SERVERS": f"127.0.0.1:{closed}"},
                                     f"cannot reach Kafka at 127.0.0.1:{closed}"),
        "relative sqlite path": (["replay", str(EVENTS), "--config", str(CONFIG), "--out",
                                  "out", "--escalate", str(default_rules_path()), "--log",
                                  "sqlite:///no-such-folder/log.db"], {},
                                 "no-such-folder does not exist"),
    }


@pytest.mark.parametrize("name", ["out names a file", "bad VIGIL_PARTITIONS",
                                  "produce to a closed port", "relative sqlite path"])
def test_a_usage_mistake_is_one_line_and_exit_2(name: str, tmp_path: Path) -> None:
    argv, env, says = cases(tmp_path)[name]
    done = vigil(argv, tmp_path, **env)
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode == 2, done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert says in last, done.stderr
    assert "abc" not in last  # the value given is never echoed (it may be a secret)


def test_every_command_is_covered() -> None:
    assert set(PARSEABLE) == set(COMMANDS)


@pytest.mark.parametrize("command", sorted(PARSEABLE))
def test_a_bad_setting_stops_every_command_in_one_line(command: str, tmp_path: Path) -> None:
    done = vigil(PARSEABLE[command], tmp_path, VIGIL_PARTITIONS="abc")
    assert (done.returncode, done.stderr.strip().splitlines()) == (2, [
        "vigil: invalid setting VIGIL_PARTITIONS: Input should be a valid integer, unable "
        "to parse string as an integer"]), done.stderr


def test_a_closed_pipe_ends_the_command_with_one_line(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'log.db'}"
    t0 = datetime(2024, 5, 1, tzinfo=UTC)
    with open_log(url) as log:  # far more than a pipe buffer of export
        log.append_many([LogItem("signal", {"n": i, "pad": "x" * 200}, t0 + timedelta(seconds=i),
                                 None, None) for i in range(2000)])
    environment = {k: v for k, v in os.environ.items() if not k.startswith("VIGIL_")}
    process = subprocess.Popen(
        [sys.executable, "-m", "streams.cli.main", "audit", "export", "--format", "jsonl",
         "--log", url], cwd=tmp_path, env={**environment, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert process.stdout is not None and process.stderr is not None
    assert process.stdout.readline().startswith(b"{")
    process.stdout.close()  # what `| head -1` does once it has its line
    code = process.wait(timeout=120)
    stderr = process.stderr.read().decode()
    process.stderr.close()
    assert (code, stderr) == (
        2, "vigil: output closed before the command finished (broken pipe)\n")

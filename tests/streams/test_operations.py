"""Operations: Prometheus alerts are routed (Alertmanager) and each has a runbook entry;
``promtool`` accepts the config and the rules (skipped without promtool; CI installs it)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS = ROOT / "deploy" / "prometheus"
PROMTOOL = shutil.which("promtool")


def _alerts() -> list[dict]:
    groups = yaml.safe_load((PROMETHEUS / "alerts.yml").read_text())["groups"]
    return [rule for group in groups for rule in group["rules"] if "alert" in rule]


def test_every_alert_has_a_runbook_entry() -> None:
    readme = (ROOT / "README.md").read_text()
    for rule in _alerts():
        url = rule["annotations"]["runbook_url"]
        anchor = url.split("#", 1)[1]
        assert url.startswith("README.md#") and anchor == f"runbook-{rule['alert'].lower()}"
        assert f'<a id="{anchor}"></a>' in readme, rule["alert"]


def test_alerts_go_to_alertmanager() -> None:
    config = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())
    (target,) = config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"]
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    service = compose["services"]["alertmanager"]
    assert target == "alertmanager:9093" and "127.0.0.1:9093:9093" in service["ports"]
    assert "./deploy/alertmanager:/etc/alertmanager:ro" in service["volumes"]
    routes = yaml.safe_load((ROOT / "deploy" / "alertmanager" / "alertmanager.yml").read_text())
    receivers = {r["name"] for r in routes["receivers"]}
    assert routes["route"]["receiver"] in receivers
    assert {r["receiver"] for r in routes["route"]["routes"]} <= receivers
    assert routes["global"]["smtp_smarthost"].split(":")[0] in compose["services"]


@pytest.mark.skipif(PROMTOOL is None, reason="promtool not installed (Debian: prometheus)")
def test_promtool_checks_the_config_and_the_rules(tmp_path: Path) -> None:
    assert PROMTOOL is not None
    rules = subprocess.run([PROMTOOL, "check", "rules", str(PROMETHEUS / "alerts.yml")],
                           capture_output=True, text=True, check=False)
    assert rules.returncode == 0, rules.stdout + rules.stderr
    # The config names the rules by their path in the container: point it at the file.
    config = (PROMETHEUS / "prometheus.yml").read_text().replace(
        "/etc/prometheus/alerts.yml", str(PROMETHEUS / "alerts.yml"))
    (tmp_path / "prometheus.yml").write_text(config)
    checked = subprocess.run([PROMTOOL, "check", "config", str(tmp_path / "prometheus.yml")],
                             capture_output=True, text=True, check=False)
    assert checked.returncode == 0, checked.stdout + checked.stderr

"""The ``VigilAuditLogShrank`` rule with ``promtool test rules`` (skipped without promtool,
``apt-get install prometheus``): it fires when the escalation log's head seq goes down and
stays quiet while it grows or across a restart's brief zero."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yml"
PROMTOOL = shutil.which("promtool")

CASES = f"""
rule_files: [{ALERTS}]
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      - series: 'vigil_audit_head_seq{{instance="shrunk"}}'
        values: '10 20 30 30 25x15'
      - series: 'vigil_audit_head_seq{{instance="growing"}}'
        values: '10+5x20'
      - series: 'vigil_audit_head_seq{{instance="restarted"}}'
        values: '10 20 0 20 25x15'
    alert_rule_test:
      - eval_time: 12m
        alertname: VigilAuditLogShrank
        exp_alerts:
          - exp_labels: {{severity: critical, instance: shrunk}}
            exp_annotations: ANNOTATIONS
      - eval_time: 2m
        alertname: VigilAuditLogShrank
        exp_alerts: []
"""


@pytest.mark.skipif(PROMTOOL is None, reason="promtool not installed")
def test_the_alert_fires_when_the_log_shrinks(tmp_path: Path) -> None:
    cases = tmp_path / "audit_alert_test.yml"
    (rule,) = [rule for group in yaml.safe_load(ALERTS.read_text())["groups"]
               for rule in group["rules"] if rule.get("alert") == "VigilAuditLogShrank"]
    annotations = yaml.safe_dump(rule["annotations"], default_flow_style=True, width=10**6)
    cases.write_text(CASES.replace("ANNOTATIONS", annotations.strip()), encoding="utf-8")
    run = subprocess.run([str(PROMTOOL), "test", "rules", str(cases)], capture_output=True,
                         text=True, timeout=60, check=False)
    assert run.returncode == 0, run.stdout + run.stderr

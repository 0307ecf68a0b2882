"""The dashboard in a real headless Chromium (Debian's ``chromium``, driven by Playwright
with ``executable_path``), against ``vigil demo`` on the embedded broker: the page loads, a
chart renders with data, a case opens with its timeline and the log's verification status.

Screenshots: ``test-output/dashboard.png`` and ``test-output/dashboard-case.png`` at the
repository root (kept after the run; ``test-output/`` is ignored by git).
"""

from __future__ import annotations

import json
import os
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from streams.kafka.embedded_broker import free_port
from tests.support.demo_process import ALARM, DemoProcess

ROOT = Path(__file__).resolve().parents[2]
OUTPUT = ROOT / "test-output"

pytestmark = pytest.mark.integration


def _cases(url: str, token: str) -> list[dict]:
    request = urllib.request.Request(url + "api/summary",
                                     headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=3) as response:
            return list(json.load(response)["cases"])
    except OSError:
        return []


def test_dashboard_in_headless_chromium(chromium: Any, tmp_path: Path) -> None:
    OUTPUT.mkdir(exist_ok=True)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    demo = DemoProcess([sys.executable, "-m", "streams.cli.main", "demo", "--seconds", "150",
                        "--rate", "300", "--port", str(free_port()), "--out",
                        str(tmp_path / "demo")], cwd=ROOT, log=tmp_path / "demo.out", env=env)
    try:
        url = demo.dashboard_url(timeout=30)
        token = demo.dashboard_token(timeout=30)
        demo.wait_for(ALARM, timeout=90)
        demo.wait_answering(url, timeout=60)
        deadline = time.monotonic() + 30
        while not _cases(url, token) and time.monotonic() < deadline:
            time.sleep(0.5)  # poll interval
        assert _cases(url, token), "the escalation log has no case yet"

        page = chromium.new_page(viewport={"width": 1440, "height": 900})
        # The token as the demo prints it: in the fragment, which the page keeps in
        # sessionStorage and removes from the address bar.
        page.goto(f"{url}#token={token}")
        page.wait_for_selector("#cases tbody tr[data-case-id]", timeout=20_000)
        assert "token" not in page.url  # out of the address bar and history
        # a monitor's chart rendered by Vega-Lite: a drawn line, dates on the x-axis
        page.wait_for_selector("#charts .chart-box[data-rendered='1'] svg .mark-line path",
                               timeout=20_000)
        assert "event date" in page.locator("#charts").inner_text()
        page.wait_for_selector("#funnel[data-rendered='1'] svg .mark-symbol path",
                               timeout=20_000)
        assert page.locator("#count-alarm").inner_text().split()[0] != "0"
        page.screenshot(path=str(OUTPUT / "dashboard.png"), full_page=True)

        row = page.locator("#cases tbody tr[data-case-id]").first
        case_id = row.get_attribute("data-case-id")
        row.click()
        page.wait_for_selector("#case-panel:not([hidden]) #case-timeline li",
                               timeout=10_000)
        assert "case opened" in page.locator("#case-timeline").inner_text()
        status = page.locator("#case-verification")
        assert "intact" in (status.get_attribute("class") or ""), status.inner_text()
        assert "hash chain intact" in status.inner_text()
        assert case_id in page.locator("#case-fields").inner_text()
        # the demo's URL carries the read-only token: the page offers no action with it
        assert page.locator("#case-actions button[data-action='ack']").is_disabled()
        page.screenshot(path=str(OUTPUT / "dashboard-case.png"), full_page=True)
    finally:
        code = demo.interrupt(timeout=30)
    assert code == 0, f"the demo exited {code}; see {tmp_path / 'demo.out'}"
    assert (OUTPUT / "dashboard.png").stat().st_size > 10_000

"""One dashboard for the deployment, in a real headless Chromium: two workers on the
embedded broker share the partitions, one of them escalating into a shared SQLite log; the
dashboard of the *other* worker shows every entity replay finds in the same file (its read
model reads the monitors changelog and the signals topic whole), a case drawer with the
statistic against its limit, O/E and dates, and a case taken from screening to sign-off on
the page by two operators' tokens, the first refused its own sign-off (four eyes). The log
names both principals; an auditor's token may not act.

Screenshots at 1280 px: ``test-output/dashboard-1280.png`` (the cases table with its stage
and deadline columns) and ``test-output/dashboard-case-1280.png`` (the drawer).
"""

from __future__ import annotations

import json
import secrets
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from notifiers.log.escalation_log import open_log
from notifiers.rules import default_rules_path
from streams.bundled_samples import sample_paths
from streams.kafka.embedded_broker import EmbeddedBroker
from tests.support.topics import committed, wait_done
from tests.support.worker_vs_replay import replay_results
from tests.support.workers import WorkerProcess, metric_total, vigil, wait_ready, worker_env

ROOT = Path(__file__).resolve().parents[2]
OUTPUT = ROOT / "test-output"
EVENTS, CONFIG = sample_paths()
# 128 bits or more each, as production mode requires
ADA, BEN, AUDITOR = (secrets.token_hex(16) for _ in range(3))
TOKENS = f"{ADA}:operator:Dr Ada,{BEN}:operator:Dr Ben,{AUDITOR}:auditor:CQC viewer"

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("plain_logging")]


def _off_loop(function: Any, *args: Any) -> Any:
    """``function(*args)`` in another thread: the helpers that read the broker call
    ``asyncio.run``, and Playwright's sync API keeps an event loop running in this one."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(function, *args).result()


def _get(url: str, token: str = ADA) -> Any:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.load(answer)


def _post(url: str, token: str) -> int:
    request = urllib.request.Request(url, data=b"{}", method="POST", headers={
        "Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def _until(what: str, check: Any, timeout: float) -> Any:
    """``check()`` until it returns something true; AssertionError after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        assert time.monotonic() < deadline, f"{what} within {timeout} s"
        time.sleep(0.25)  # poll interval, not a wait for the condition


def _caught_up(base: str) -> dict[str, Any] | None:
    """The read model's progress once it has read both topics to their ends."""
    progress = _get(base + "api/progress")
    return progress if progress["caught_up"] else None


def _escalated(broker: EmbeddedBroker, env: dict[str, str]) -> bool:
    done, _, end = committed(broker.bootstrap_servers, f"{env['VIGIL_APP_ID']}-escalation",
                             [env["VIGIL_SIGNALS_TOPIC"]])
    return bool(done and end)


def _act(page: Any, action: str) -> str:
    """Click an action button in the drawer; the drawer's message after the answer."""
    message = page.locator("#case-message")
    with page.expect_response(lambda r: r.request.method == "POST"
                              and r.url.endswith("/" + action)):
        page.click(f"#case-actions button[data-action='{action}']")
    page.wait_for_function("() => document.querySelector('#case-message').textContent.length")
    return str(message.inner_text())


def test_one_dashboard_shows_every_entity_and_acts_with_two_tokens(
        chromium: Any, broker: EmbeddedBroker, tmp_path: Path) -> None:
    started = time.monotonic()
    OUTPUT.mkdir(exist_ok=True)
    _, monitors, _ = _off_loop(replay_results, EVENTS, tmp_path / "replay", CONFIG)
    replayed = {(m["metric"], m["entity_type"], m["entity_id"]) for m in monitors}
    log_url = f"sqlite:///{tmp_path / 'escalation.db'}"
    env = worker_env(broker, partitions=4, VIGIL_ESCALATION_LOG=log_url,
                     VIGIL_OUTBOX_DIR=str(tmp_path / "outbox"), VIGIL_API_TOKENS=TOKENS)
    assert vigil("produce", str(EVENTS), env=env).returncode == 0
    escalating = WorkerProcess(env, CONFIG, tmp_path / "worker-a.log",
                               ("--rules", str(default_rules_path())))
    plain = WorkerProcess(env, CONFIG, tmp_path / "worker-b.log")
    try:
        wait_ready([escalating, plain], timeout=90)
        _off_loop(wait_done, broker, env)
        _until("the escalation side received every signal",
               lambda: _off_loop(_escalated, broker, env), 60)
        base = f"http://127.0.0.1:{plain.port}/dashboard/"
        caught = time.monotonic()
        progress = _until("the read model caught up", lambda: _caught_up(base), 60)
        print(f"read model caught up {time.monotonic() - caught:.2f} s after the workers "
              f"finished; {progress['caught_up_after_s']} s after it started; {progress}")
        # The stages' partitions were shared: each worker applied part of the observations,
        # so neither one's own table holds every entity.
        applied = [metric_total(w, "vigil_observations_applied_total") or 0
                   for w in (escalating, plain)]
        print(f"observations applied per worker: {applied}")
        assert min(applied) > 0, applied
        # Every entity from one worker's dashboard, and the same from the other's.
        for worker in (plain, escalating):
            entities = _get(f"http://127.0.0.1:{worker.port}/dashboard/api/summary")["entities"]
            assert {(e["metric"], e["entity_type"], e["entity_id"]) for e in entities
                    } == replayed, f"worker on :{worker.port}"

        cases = _get(base + "api/summary")["cases"]
        case = next(c for c in cases if c["policy"] == "hqip_alarm" and c["status"] == "open")
        case_id = case["case_id"]

        page = chromium.new_page(viewport={"width": 1280, "height": 900})
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.goto(f"{base}#token={ADA}")
        page.wait_for_selector(f"#cases tbody tr[data-case-id='{case_id}']", timeout=20_000)
        # A backfill is released at the idle flush: few points per entity, so the line may
        # be a single point (attached, not "visible"); the demo's stream draws many.
        page.wait_for_selector("#charts .chart-box[data-rendered='1'] svg .mark-line path",
                               timeout=20_000, state="attached")
        page.wait_for_selector("#funnel[data-rendered='1'] svg .mark-symbol path",
                               timeout=20_000)
        assert "event date" in page.locator("#charts").inner_text()  # charts by date
        # At 1280 px the stage and deadline columns are inside the table's visible box.
        for column in ("col-stage", "col-deadline"):
            inside = page.evaluate(
                """(cls) => { const wrap = document.querySelector('#cases-wrap')
                     .getBoundingClientRect();
                   const cell = document.querySelector('#cases tbody td.' + cls)
                     .getBoundingClientRect();
                   return cell.width > 0 && cell.right <= wrap.right + 1; }""", column)
            assert inside, f"{column} is cut off at 1280 px"
        row = page.locator(f"#cases tbody tr[data-case-id='{case_id}']")
        assert row.locator("td.col-stage").inner_text() == "screening"
        assert row.locator("td.col-deadline").inner_text() not in ("", "—")
        page.screenshot(path=str(OUTPUT / "dashboard-1280.png"), full_page=True)

        row.click()
        page.wait_for_selector("#case-panel:not([hidden]) #case-fields [data-field=oe]",
                               timeout=10_000)
        field = {name: page.locator(f"#case-fields [data-field={name}]").inner_text()
                 for name in ("statistic", "oe", "opened", "first_signal", "excursion_start",
                              "last_signal", "deadline", "next_step", "route", "recipients")}
        assert " against " in field["statistic"] and "alarm" in field["statistic"], field
        assert "O/E" in field["oe"] and "—" not in field["oe"], field
        for name in ("opened", "first_signal", "excursion_start", "last_signal", "deadline"):
            assert field[name] != "—", (name, field)
        assert "confirm or withdraw" in field["next_step"]
        # The deadline is the date the screening letter prints (Europe/London).
        with open_log(log_url, create=False) as log:
            letters = [e.payload["message"] for e in log.entries(case_id=case_id)
                       if e.kind == "notification_requested"]
        assert any(field["deadline"] in letter["text"] for letter in letters), (
            field["deadline"], [letter["text"][-200:] for letter in letters])
        page.wait_for_selector("#case-chart[data-rendered='1'] svg", timeout=10_000)
        chart = page.locator("#case-chart svg")
        assert chart.locator("g.mark-rule.role-mark line").count() == 2  # alert, alarm limits
        assert chart.locator("g.mark-rect.role-mark path").count() == 1  # the excursion, shaded
        # Each chart can be saved as SVG or PNG (vega-embed's export actions).
        saves = page.locator("#case-chart .vega-actions a")
        assert sorted(saves.all_inner_texts()) == ["Save as PNG", "Save as SVG"], (
            saves.all_inner_texts())
        assert "event date" in str(chart.text_content())
        timeline = page.locator("#case-timeline > li")
        assert 0 < timeline.count() < 30  # grouped, not one row per log entry
        assert "signal_received" not in page.locator("#case-timeline").inner_text()
        page.screenshot(path=str(OUTPUT / "dashboard-case-1280.png"), full_page=True)

        # Dr Ada takes the case to the sign-off; her own sign-off is refused (four eyes).
        assert "ack: logged" in _act(page, "ack")
        assert "confirm: logged" in _act(page, "confirm")     # screening
        assert "respond: logged" in _act(page, "respond")     # the provider's response
        assert "confirm: logged" in _act(page, "confirm")     # review
        page.wait_for_function("() => document.querySelector('[data-field=status]')"
                               ".textContent.startsWith('awaiting sign-off')")
        refused = _act(page, "signoff")
        assert "refused (409)" in refused and "four-eyes" in refused, refused
        assert _post(f"{base}api/cases/{case_id}/signoff", AUDITOR) == 403
        # Dr Ben signs off from the page with his own token.
        page.goto(f"{base}#token={BEN}")
        page.wait_for_selector(f"#cases tbody tr[data-case-id='{case_id}']", timeout=20_000)
        page.locator(f"#cases tbody tr[data-case-id='{case_id}']").click()
        page.wait_for_selector("#case-panel:not([hidden]) [data-field=status]")
        page.wait_for_function("() => !document.querySelector(\"button[data-action="
                               "'signoff']\").disabled")
        assert "signoff: logged" in _act(page, "signoff")
        page.wait_for_function("() => document.querySelector('[data-field=actions]')"
                               ".textContent.includes('signoff by Dr Ben')")
        page.screenshot(path=str(OUTPUT / "dashboard-signed-off-1280.png"), full_page=True)
        assert not [e for e in errors if "Content Security Policy" in e], errors
    finally:
        codes = [worker.terminate() for worker in (escalating, plain)]
    assert codes == [0, 0], codes
    with open_log(log_url, create=False) as log:
        actions = [e.payload for e in log.entries(case_id=case_id) if e.kind == "action"]
        assert log.verify().ok
    assert [(a["action"], a["by"]) for a in actions] == [
        ("acknowledge", "Dr Ada"), ("confirm", "Dr Ada"), ("respond", "Dr Ada"),
        ("confirm", "Dr Ada"), ("signoff", "Dr Ben")]
    print(f"test took {time.monotonic() - started:.1f} s")

"""The dashboard on a running worker, as an attacker would try it: its JSON needs a reader's
bearer token, every answer carries the browser security headers, and a half-sent request
is dropped by the server instead of holding a connection open."""

from __future__ import annotations

import socket
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from streams.bundled_samples import sample_paths
from streams.kafka.embedded_broker import EmbeddedBroker
from tests.support.workers import WorkerProcess, worker_env

pytestmark = pytest.mark.integration

AUDITOR = "auditor-" + "a1" * 16
OPERATOR = "operator-" + "b2" * 16
API = ("/dashboard/api/summary", "/dashboard/api/cases/C1",
       "/dashboard/api/chart?metric=m&entity_type=provider&entity_id=X",
       "/dashboard/api/funnel?metric=m", "/dashboard/api/progress", "/dashboard/api/palette",
       "/dashboard/api/me")


def _get(port: int, path: str, token: str | None = None, *, post: bool = False
         ) -> tuple[int, dict[str, str]]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}",
                                     data=b"{}" if post else None)
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers)


@pytest.fixture(scope="module")
def worker(broker: EmbeddedBroker, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[WorkerProcess]:
    folder = tmp_path_factory.mktemp("dashboard-access")
    _, config = sample_paths()
    env = worker_env(broker, partitions=1, VIGIL_WEB_HEADER_TIMEOUT="1",
                     VIGIL_API_TOKENS=f"{AUDITOR}:auditor:CQC,{OPERATOR}:operator:Dr A",
                     VIGIL_ESCALATION_LOG=f"sqlite:///{folder / 'none.db'}")
    process = WorkerProcess(env, config, folder / "worker.log")
    try:
        process.wait_ready(timeout=90)
        yield process
    finally:
        process.terminate()


@pytest.mark.parametrize("path", API)
def test_json_needs_a_reader_token(worker: WorkerProcess, path: str) -> None:
    assert _get(worker.port, path)[0] == 401
    assert _get(worker.port, path, "not-a-token")[0] == 401
    assert _get(worker.port, path, AUDITOR[:-1])[0] == 401
    assert _get(worker.port, path, AUDITOR)[0] in (200, 404)
    assert _get(worker.port, path, OPERATOR)[0] in (200, 404)


def test_summary_answers_a_reader(worker: WorkerProcess) -> None:
    assert _get(worker.port, "/dashboard/api/summary", AUDITOR)[0] == 200


@pytest.mark.parametrize("path", ("/dashboard/", "/dashboard/app.js", "/dashboard/app.css",
                                  "/dashboard/vendor/vega.min.js", "/dashboard/api/summary"))
def test_every_answer_carries_the_security_headers(worker: WorkerProcess, path: str) -> None:
    for token in (None, AUDITOR):
        status, headers = _get(worker.port, path, token)
        assert status in (200, 401)
        csp = headers["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in csp
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp
        assert "unsafe-eval" not in csp  # the charts run with vega-interpreter
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["X-Frame-Options"] == "DENY"
        assert headers["Referrer-Policy"] == "no-referrer"


def test_acting_needs_an_operator_token(worker: WorkerProcess) -> None:
    path = "/dashboard/api/cases/C1/ack"
    assert _get(worker.port, path, post=True)[0] == 401
    assert _get(worker.port, path, "not-a-token", post=True)[0] == 401
    assert _get(worker.port, path, AUDITOR, post=True)[0] == 403
    status, headers = _get(worker.port, path, OPERATOR, post=True)
    assert status in (404, 503)  # no such case, or no log yet: never acted on
    assert headers["X-Frame-Options"] == "DENY"
    assert _get(worker.port, path, OPERATOR)[0] == 405  # POST only
    assert _get(worker.port, "/dashboard/api/cases/C1/erase", OPERATOR, post=True)[0] in (
        404, 405)


def test_only_the_vendored_libraries_are_served(worker: WorkerProcess) -> None:
    status, headers = _get(worker.port, "/dashboard/vendor/vega-embed.min.js")
    assert status == 200 and headers["Content-Type"].startswith("application/javascript")
    assert _get(worker.port, "/dashboard/vendor/README.md")[0] == 404


def test_the_page_loads_without_a_token(worker: WorkerProcess) -> None:
    assert _get(worker.port, "/dashboard/")[0] == 200


def test_a_half_sent_request_is_dropped(worker: WorkerProcess) -> None:
    with socket.create_connection(("127.0.0.1", worker.port), timeout=30) as conn:
        conn.sendall(b"GET /dashboard/api/summary HT")
        # The server closes the connection (recv gives b"", or a reset) well before this
        # socket's own 30 s deadline; aiohttp's default (75 s) would time it out instead.
        try:
            answer = conn.recv(1024)
        except ConnectionResetError:
            answer = b""
        except TimeoutError:
            pytest.fail("the server kept a half-sent request open")
    assert answer == b""


def test_the_pack_download_needs_a_token_and_says_when_it_has_no_source(
        worker: WorkerProcess) -> None:
    path = "/dashboard/api/cases/C1/pack"
    assert _get(worker.port, path)[0] == 401
    status, headers = _get(worker.port, path, AUDITOR)  # no VIGIL_LOOKBACK_EVENTS here
    assert status == 503
    assert headers["X-Frame-Options"] == "DENY" and headers["X-Content-Type-Options"] == \
        "nosniff"

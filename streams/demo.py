"""The whole system on one laptop, in one command: what ``vigil demo`` runs.

It starts, in this order, and stops in reverse on Ctrl-C (SIGINT), SIGTERM or after
``--seconds``:

1. the embedded broker (Tansu, in memory; log in ``OUT/broker.log``);
2. a local SMTP sink (aiosmtpd on a free loopback port) writing every mail it receives to
   ``OUT/mail/``;
3. the streaming worker, a subprocess ``vigil run --config streams/samples/demo.yaml`` with
   its own app id, a DEMO-ONLY pseudonymisation key and the dashboard on ``--port`` (6066
   when free); its log goes to ``OUT/worker.log``;
4. the escalation engine, in this process: it consumes the signals topic, prints one line per
   signal, and runs every signal through the bundled rules on a SQLite escalation log
   (``OUT/escalation.db``), delivering through the outbox adapter (``OUT/outbox/``) and by
   email to the SMTP sink;
5. the synthetic registry feed (:mod:`streams.synthetic_feed`) streaming at ``--rate``
   events/s to the events topic, with injected outliers strong enough to raise alarms
   within a minute; every line is also appended to ``OUT/events.jsonl`` (flushed a batch
   at a time, before the batch is sent), the events file of the look-back packs
   (``VIGIL_LOOKBACK_EVENTS``, set for the worker's dashboard and used by the engine for
   its preliminary notices).

The worker's dashboard reads the same escalation log (read-only), so cases appear there as
the engine opens them.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import logging
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import IO, Any

from streams.contract.signal import InvalidSignal, Signal, read_signal
from streams.kafka.embedded_broker import EmbeddedBroker, free_port
from streams.secret_policy import DEMO_HMAC_KEY  # re-exported; refused in production mode
from streams.synthetic import SYNTHETIC_EVENT_TIMES
from streams.synthetic_feed import spec_from_args

DEFAULT_PORT = 6066


RUN_FILES = ("escalation.db", "escalation.db-wal", "escalation.db-shm", "outbox", "mail",
             "events.jsonl")
"""What one demo run writes that a second run must not inherit: its escalation log (whose
signal ids the rerun's deterministic ids would repeat, so every signal would be dropped as
a duplicate), its outbox, its mail and its feed (the look-back packs' events: a rerun's
would repeat every event id)."""
EVENTS_FILE = "events.jsonl"
"""The feed as sent, in ``OUT/``: the look-back packs' events (``VIGIL_LOOKBACK_EVENTS``)."""
FEED_BATCH = 100
"""Lines written and flushed together, before any of them is sent."""


def recorded_feed(lines: Iterable[str], file: IO[str], batch: int = FEED_BATCH
                  ) -> Iterator[str]:
    r"""``lines``, each written to ``file`` before it is passed on: a batch of ``batch`` is
    written and flushed, then handed out, so the file always holds every line sent (up
    to one batch more) and ends with a whole line.

    >>> import io
    >>> out = io.StringIO()
    >>> feed = recorded_feed(iter(["a", "b", "c"]), out, batch=2)
    >>> next(feed), out.getvalue()
    ('a', 'a\nb\n')
    >>> list(feed), out.getvalue()
    (['b', 'c'], 'a\nb\nc\n')
    """
    source = iter(lines)
    while chunk := list(itertools.islice(source, batch)):
        file.write("".join(line.rstrip("\n") + "\n" for line in chunk))
        file.flush()
        yield from chunk


def archive_previous_run(out: Path) -> Path | None:
    """Move a previous run's log, outbox and mail into ``out/previous-runs/<n>/`` so this
    run starts from a fresh log; the folder moved to, or None if there was nothing.

    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> archive_previous_run(folder) is None
    True
    >>> _ = (folder / "escalation.db").write_text("x")
    >>> archive_previous_run(folder).relative_to(folder).as_posix()
    'previous-runs/1'
    >>> (folder / "escalation.db").exists()
    False
    """
    found = [out / name for name in RUN_FILES if (out / name).exists()]
    if not found:
        return None
    runs = out / "previous-runs"
    runs.mkdir(exist_ok=True)
    target = runs / str(1 + max((int(p.name) for p in runs.iterdir() if p.name.isdigit()),
                                default=0))
    target.mkdir()
    for path in found:
        path.rename(target / path.name)
    return target


def demo_config_path() -> Path:
    return Path(str(resources.files("streams") / "samples" / "demo.yaml"))


def _port_free(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def signal_line(signal: Signal, now: float | None = None,
                injected: Mapping[str, str] | None = None) -> str:
    """One console line per signal; a signal of an entity the feed made an outlier says so
    (``injected``: entity id → the outlier it carries).

    >>> signal = Signal(
    ...     signal_id="s1", registry="r", metric="death_30d", monitor="ra_cusum_or2",
    ...     monitor_kind="ra_cusum", entity_type="clinician", entity_id="7000201",
    ...     provider="RXF", direction="worse", level="alarm", statistic=4.61, threshold=4.5,
    ...     n=240, event_id="e1", episode_id="ep1", occurred_at="2026-05-11T16:18:00+00:00",
    ...     observed=20, expected=9.5)
    >>> signal_line(signal, now=0)[8:]
    ' ALARM  worse   death_30d           clinician 7000201  (n=240, 4.61 vs 4.5)'
    >>> signal_line(signal, now=0, injected={"7000201": "bad_clinician"})[-28:]
    '  <- injected: bad_clinician'
    """
    stamp = time.strftime("%H:%M:%S", time.localtime(time.time() if now is None else now))
    detail = f"n={signal.n}, {signal.statistic:.3g} vs {signal.threshold:.3g}"
    mark = (injected or {}).get(signal.entity_id)
    return (f"{stamp} {signal.level.value.upper():<6} "
            f"{signal.direction.value:<7} {signal.metric:<19} "
            f"{signal.entity_type} {signal.entity_id}  ({detail})"
            + (f"  <- injected: {mark}" if mark else ""))


class MailSink:
    """A local SMTP server that writes each message it receives to ``folder``."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.received = 0
        self.port = free_port()
        self._controller: Any = None

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.received += 1
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"{self.received:05d}.eml"
        path.write_bytes(envelope.original_content or envelope.content)
        return "250 Message accepted for delivery"

    def start(self) -> MailSink:
        from aiosmtpd.controller import Controller

        # aiosmtpd logs every SMTP command at INFO; the console is for signals.
        logging.getLogger("mail.log").setLevel(logging.WARNING)
        logging.getLogger("aiokafka").setLevel(logging.WARNING)

        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None


def demo_recipients(outbox: Path, smtp_port: int) -> Any:
    """Providers by email (to the SMTP sink) and outbox; every other role to the outbox."""
    from notifiers.recipients import RecipientsConfig

    return RecipientsConfig(
        channels={"outbox": {"type": "outbox", "directory": str(outbox)},
                  "email": {"type": "email", "host": "127.0.0.1", "port": smtp_port,
                            "sender": "vigil-demo@localhost", "starttls": False,
                            "timeout": 10}},
        provider={"default": [{"channel": "email", "address": "audit-lead@demo.invalid"},
                              {"channel": "outbox", "address": "provider"}]},
        **{role: [{"channel": "outbox", "address": role}]
           for role in ("cqc", "mhra", "operator", "commissioner")},
    )


def worker_env(settings: Any, port: int, log_url: str, read_token: str,
               injected: Mapping[str, str] | None = None,
               operator_tokens: Sequence[str] = (), events: Path | None = None
               ) -> dict[str, str]:
    """The demo worker's environment; ``read_token`` is its dashboard read token (role
    ``auditor``: read only), ``operator_tokens`` act as "demo analyst" and "demo reviewer"
    (two people, for the four-eyes sign-off); ``injected`` (entity id → outlier) is marked
    on the dashboard; ``events`` is the feed's file, for the dashboard's look-back packs."""
    tokens = [f"{read_token}:auditor:demo viewer"] + [
        f"{token}:operator:{name}"
        for token, name in zip(operator_tokens, ("demo analyst", "demo reviewer"), strict=False)]
    env = dict(os.environ)
    env.update({
        "VIGIL_BOOTSTRAP_SERVERS": settings.bootstrap_servers,
        "VIGIL_BROKER_QUIRKS": "tansu",  # the embedded broker
        "VIGIL_HMAC_KEY": DEMO_HMAC_KEY,
        "VIGIL_MODE": "demo",  # the DEMO-ONLY key is refused in production mode
        "VIGIL_APP_ID": settings.app_id,
        "VIGIL_PARTITIONS": str(settings.partitions),
        "VIGIL_WEB_PORT": str(port),
        "VIGIL_SESSION_TIMEOUT": "6",
        "VIGIL_HEARTBEAT_INTERVAL": "1",
        "VIGIL_ESCALATION_LOG": log_url,
        "VIGIL_LOG_LEVEL": "WARNING",
        **SYNTHETIC_EVENT_TIMES,
        "VIGIL_API_TOKENS": ",".join(tokens),
        "VIGIL_DEMO_INJECTED": json.dumps(dict(injected or {})),
    })
    if events is not None:
        env["VIGIL_LOOKBACK_EVENTS"] = str(events)
    return env


async def _signals(settings: Any, stop: asyncio.Event, counts: dict[str, int],
                   injected: Mapping[str, str]
                   ) -> AsyncIterator[Signal | InvalidSignal]:
    """Signals from the signals topic, printing one line each (a malformed value is passed
    on as its rejection, for the engine to log)."""
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(settings.signals_topic,
                                bootstrap_servers=settings.bootstrap_servers,
                                auto_offset_reset="earliest", enable_auto_commit=False,
                                group_id=None)
    await consumer.start()
    try:
        while not stop.is_set():
            batch = await consumer.getmany(timeout_ms=500, max_records=500)
            for records in batch.values():
                for record in records:
                    signal = read_signal(record.value or b"")
                    if isinstance(signal, Signal):
                        level = signal.level.value
                        counts[level] = counts.get(level, 0) + 1
                        print(signal_line(signal, injected=injected), flush=True)
                    yield signal
    finally:
        await consumer.stop()


def _answers(url: str, token: str) -> bool:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


async def run_demo(args: argparse.Namespace) -> int:
    from notifiers.escalation import build_escalation
    from notifiers.rules import default_rules_path
    from notifiers.signal_consumer import consume_signals
    from streams.contract.events import default_window
    from streams.kafka.producer import ensure_topics
    from streams.lookback.source import configured_pack_source
    from streams.pipeline.config import load_config
    from streams.pipeline.core import Pipeline
    from streams.settings import VigilSettings
    from streams.synthetic import synthetic_events
    from streams.synthetic_feed import stream_events

    out: Path = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    previous = archive_previous_run(out)
    if previous is not None:
        print(f"vigil demo: the previous run's log, outbox and mail moved to {previous}/",
              flush=True)
    spec, outliers = spec_from_args(args)
    port = args.port or (DEFAULT_PORT if _port_free(DEFAULT_PORT) else free_port())
    url = f"http://127.0.0.1:{port}/dashboard/"
    # A fresh read-only token each run: the dashboard's JSON is never open, not even in
    # the demo. It travels in the URL fragment, which the browser never sends.
    read_token = secrets.token_urlsafe(24)
    operator_tokens = [secrets.token_urlsafe(24) for _ in range(2)]
    token_url = f"{url}#token={read_token}"
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)

    print(f"vigil demo: folder {out}/ (logs, escalation.db, outbox/, mail/, {EVENTS_FILE})",
          flush=True)
    broker = EmbeddedBroker(log_path=out / "broker.log").start()
    mail = MailSink(out / "mail").start()
    worker: subprocess.Popen[bytes] | None = None
    tasks: list[asyncio.Task[Any]] = []
    counts: dict[str, int] = {}
    code = 0
    events_path = out / EVENTS_FILE
    feed_file = events_path.open("w", encoding="utf-8")
    # The packs replay the feed in this process: its fast-forward event times must pass
    # the contract here as in the worker (the window is read once per process).
    os.environ.update(SYNTHETIC_EVENT_TIMES)
    default_window.cache_clear()
    try:
        settings = VigilSettings(bootstrap_servers=broker.bootstrap_servers, mode="demo",
                                 hmac_key=DEMO_HMAC_KEY, app_id=f"vigil-demo-{port}",
                                 partitions=4)
        await ensure_topics(settings, settings.events_topic, settings.signals_topic)
        log_url = f"sqlite:///{out / 'escalation.db'}"
        packs = configured_pack_source(events_path, Pipeline(load_config(demo_config_path()),
                                                             settings.join_window()))
        escalation = build_escalation(log_url, default_rules_path(),
                                      recipients=demo_recipients(out / "outbox", mail.port),
                                      packs=packs)
        engine, dispatcher = escalation.engine, escalation.dispatcher

        with (out / "worker.log").open("ab") as worker_log:
            worker = subprocess.Popen(
                [sys.executable, "-m", "streams.cli.main", "run", "--config",
                 str(demo_config_path())],
                env=worker_env(settings, port, log_url, read_token,
                               {v: k for k, v in outliers.items()}, operator_tokens,
                               events_path), cwd=out,
                stdin=subprocess.DEVNULL, stdout=worker_log, stderr=worker_log,
                start_new_session=True)
        print(f"vigil demo: broker {broker.bootstrap_servers}, SMTP sink 127.0.0.1:{mail.port}, "
              f"worker pid {worker.pid}", flush=True)
        print(f"\n  Dashboard: {token_url}\n  (read token {read_token}, this run only)\n"
              f"  To act on cases from the page (its token… button): {operator_tokens[0]} "
              f"(demo analyst), {operator_tokens[1]} (demo reviewer: signs off)\n",
              flush=True)
        print(f"vigil demo: feeding {args.rate:g} events/s; injected outliers "
              f"{json.dumps(outliers)}; Ctrl-C stops", flush=True)

        tasks.append(asyncio.create_task(consume_signals(
            _signals(settings, stop, counts, {v: k for k, v in outliers.items()}), engine,
            dispatcher, stop=stop, tick_every=5.0)))
        tasks.append(asyncio.create_task(stream_events(
            settings, recorded_feed(synthetic_events(spec), feed_file), args.rate,
            stop=stop)))
        started = time.monotonic()
        ready = False
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 1.0)
            if worker.poll() is not None:
                print(f"vigil demo: the worker exited with status {worker.returncode}; "
                      f"see {out / 'worker.log'}", file=sys.stderr, flush=True)
                code = 1
                break
            if not ready and await asyncio.to_thread(_answers, url + "api/summary", read_token):
                ready = True
                print(f"vigil demo: dashboard ready at {url}", flush=True)
            if args.seconds is not None and time.monotonic() - started >= args.seconds:
                break
            for task in tasks:
                if task.done() and task.exception() is not None:
                    raise task.exception()  # type: ignore[misc]
    finally:
        stop.set()
        for task in tasks:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(task, 15)
        if worker is not None and worker.poll() is None:
            worker.terminate()
            try:
                await asyncio.to_thread(worker.wait, 20)
            except subprocess.TimeoutExpired:
                worker.kill()
                await asyncio.to_thread(worker.wait, 5)
        mail.stop()
        broker.stop()
        feed_file.close()
    opened = sum(1 for _ in engine.cases())
    print(json.dumps({"signals": counts, "cases": opened, "mails": mail.received,
                      "folder": str(out)}), flush=True)
    return code
